"""The one Definitions object: domain assets plus the platform's services."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from platform_assets.domains import flights
from platform_assets.lake.io_manager import VersionedParquetIOManager
from platform_assets.lake.resources import LakeResource


def build_definitions(lake: LakeResource | None = None) -> dg.Definitions:
    """Assemble the code location; tests pass their own lake, production reads the env."""
    lake = lake or LakeResource()
    return dg.Definitions(
        assets=[*flights.assets],
        resources={
            "lake": lake,
            "io_manager": VersionedParquetIOManager(lake=lake),
            "duckdb": DuckDBResource(database=":memory:"),
        },
    )


defs = build_definitions()
