"""The production instance config (deploy/dagster.yaml) against a real PostgreSQL server.

The server comes from Debian's postgresql package (`make test` installs it when
missing); it runs as the `postgres` user on a free loopback port in a temporary
cluster, and is stopped at the end."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from benchmarks import postgres_server
from platform_assets_tests.conftest import local_lake
from platform_assets_tests.pipeline import land_days

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A throwaway server from Debian's packages (the one the benchmarks use too)."""
    if not postgres_server.available():
        pytest.fail("PostgreSQL server binaries are missing; `make test` installs Debian's postgresql")
    with postgres_server.postgres() as env:
        yield env


def test_production_instance_stores_runs_in_postgres(
    postgres: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    lake = local_lake(tmp_path)
    land_days(lake, "2013-01-01", "2013-01-01")

    from platform_assets.definitions import build_definitions

    defs = build_definitions(lake.resource)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        selection = [dg.AssetKey(["raw", "airlines"]), dg.AssetKey(["curated", "airlines"])]
        result = dg.materialize(
            [*assets, *(defs.asset_checks or [])],  # the audits publish what passes
            selection=selection,
            resources=defs.resources,
            instance=instance,
        )
        assert result.success

    # A fresh instance (another process, in production) sees the run and the materialization.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.is_success
        event = instance.get_latest_materialization_event(dg.AssetKey(["curated", "airlines"]))
        assert event is not None
        assert event.asset_materialization.metadata["dagster/row_count"].value == 16
