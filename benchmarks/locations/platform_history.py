"""The platform's own Definitions with the daily partitions stretched over a longer history.

The flights domain is partitioned over 2013 (flights.toml); the scale benchmark and
the chunked-backfill test feed it a synthetic history built from 2013, so this code
location maps every daily asset onto `HISTORY_START` .. 2014-01-01 and changes nothing
else: same functions, IO manager, audits and publish."""

from __future__ import annotations

import os

import dagster as dg

from platform_assets.definitions import build_definitions

HISTORY_START_ENV = "PLATFORM_HISTORY_START"


def stretched(definitions: dg.Definitions, start: str, end: str = "2014-01-01") -> dg.Definitions:
    daily = dg.DailyPartitionsDefinition(start_date=start, end_date=end)

    def widen(spec: dg.AssetSpec) -> dg.AssetSpec:
        # Only the flights domain's days: the synthetic history is of flights.
        flights = spec.tags.get("domain") == "flights"
        if flights and isinstance(spec.partitions_def, dg.DailyPartitionsDefinition):
            return spec.replace_attributes(partitions_def=daily)
        return spec

    assets = [
        a.map_asset_specs(widen) if isinstance(a, dg.AssetsDefinition) else a
        for a in definitions.assets or []
    ]
    return dg.Definitions(
        assets=assets,
        asset_checks=definitions.asset_checks,
        executor=definitions.executor,
        resources=definitions.resources,
    )


defs = stretched(build_definitions(), os.environ.get(HISTORY_START_ENV, "2004-01-01"))
