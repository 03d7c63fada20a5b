"""The Dagster floor: the platform's graph shape with an IO manager that stores nothing.

Same asset keys, partitions, dependencies, backfill policies and check specs (blocking
included) as the platform's Definitions, built from them so the shape cannot drift;
every function returns at once and every check passes. What a backfill of this
costs is Dagster's own bookkeeping (runs, steps, events, check results), the part of
the platform's time that the platform's code cannot remove."""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.definitions import build_definitions


class NothingIOManager(dg.IOManager):
    """Stores nothing and loads `None`: outputs cost only Dagster's events."""

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        return None

    def load_input(self, context: dg.InputContext) -> Any:
        return None


def _noop_asset(source: dg.AssetsDefinition) -> dg.AssetsDefinition:
    spec = next(iter(source.specs))
    ins = {f"in_{i}": dg.AssetIn(key=key) for i, key in enumerate(sorted(source.dependency_keys))}

    @dg.asset(
        key=spec.key,
        ins=ins,
        partitions_def=source.partitions_def,
        backfill_policy=source.backfill_policy,
        group_name=spec.group_name,
        tags=spec.tags,
        name=None,
    )
    def _noop(**kwargs: Any) -> None:
        return None

    return _noop


def _noop_checks(source: dg.AssetChecksDefinition) -> dg.AssetChecksDefinition:
    specs = list(source.check_specs)

    @dg.multi_asset_check(specs=specs, name=f"noop_{source.node_def.name}")
    def _passes() -> Any:
        for spec in specs:
            yield dg.AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=True)

    return _passes


def floor_definitions(platform: dg.Definitions | None = None) -> dg.Definitions:
    """The platform's asset graph, stripped of work; sensors and schedules left out."""
    platform = platform or build_definitions()
    assets = [_noop_asset(a) for a in platform.assets if isinstance(a, dg.AssetsDefinition)]
    checks = [_noop_checks(c) for c in platform.asset_checks or []]
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        executor=dg.in_process_executor,
        resources={"io_manager": NothingIOManager()},
    )


defs = floor_definitions()
