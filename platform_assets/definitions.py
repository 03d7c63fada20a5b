"""The one Definitions object: domain assets plus the platform's services."""

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from platform_assets import automation
from platform_assets.domains import domain_definitions
from platform_assets.lake.identity import ensure_lake_identity
from platform_assets.lake.io_manager import VersionedParquetIOManager
from platform_assets.lake.resources import LakeResource
from platform_assets.maintenance import gc_job
from platform_assets.settings import Settings, container_like


def build_definitions(
    lake: LakeResource | None = None, automation_settings: automation.AutomationSettings | None = None
) -> dg.Definitions:
    """Assemble the code location; tests pass their own lake, production reads the env."""
    if lake is None and container_like(os.environ):
        # A code server from the image checks its environment and lake when it starts,
        # not at its first run: a forgotten PLATFORM_ENV or the wrong bucket stops it here.
        ensure_lake_identity(Settings.from_env())
    lake = lake or LakeResource()
    settings = automation_settings or automation.AutomationSettings.load()
    domains = domain_definitions()  # every domains/<name>/ package
    assets = dg.map_asset_specs(automation.platform_policies(settings), [*domains.assets])
    return dg.Definitions(
        assets=assets,
        # Write, audit, publish: each contract's checks publish the versions that pass.
        asset_checks=[*domains.asset_checks],
        sensors=[*automation.platform_sensors(assets, settings), *domains.sensors],
        # Retention: daily gc, its schedule running by default in staging and prod only.
        jobs=[*domains.jobs, gc_job.lake_gc],
        schedules=[gc_job.gc_schedule(os.environ.get("PLATFORM_ENV", "dev").strip().lower())],
        # One process per run: daily partitions are small, and on a small host the
        # per-step interpreter start-up of the multiprocess executor dominated a
        # run's latency. Parallelism comes from the run queue (per-zone limits).
        executor=dg.in_process_executor,
        resources={
            "lake": lake,
            "io_manager": VersionedParquetIOManager(lake=lake),
            "duckdb": DuckDBResource(database=":memory:"),
        },
    )


defs = build_definitions()
