"""The stock Dagster peer: the platform's transformations with Dagster's own IO pattern.

The same functions (landed-file parsing by the raw contracts, `curate`, the serving
SQL) as plain assets, stored by a per-partition Parquet IO manager built on Dagster's
`UPathIOManager`: one file per partition, overwritten in place. No versions,
manifests, audits, quarantine or publish pointers: what a Dagster user gets without
the platform. The lake folder is PLATFORM_LAKE_URL (local paths only); outputs go
under its `peer/` folder, landed files are read from its `landing/`."""

# No `from __future__ import annotations`: Dagster reads the context annotation.

import os
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from platform_assets.domains.flights import contracts, curate, serving
from platform_assets.domains.flights.config import DAILY, domain_config
from platform_assets.quality.landed import read_landed_csvs

_SINGLE = dg.BackfillPolicy.single_run()


class PartitionedParquetIOManager(dg.UPathIOManager):
    """One Parquet file per partition; a multi-partition output is split by its `date` column."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(obj, preserve_index=False), str(path), compression="zstd")

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        return pq.read_table(str(path)).to_pandas()

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if not context.has_asset_partitions or len(context.asset_partition_keys) == 1:
            if isinstance(obj, dict):  # a raw asset returns {partition: frame}, here of one partition
                obj = obj[context.asset_partition_key]
            return super().handle_output(context, obj)
        paths = self._get_paths_for_partitions(context)
        parts = obj if isinstance(obj, dict) else dict(iter(obj.groupby("date", sort=False)))
        for key, path in paths.items():
            frame = parts.get(key, obj.iloc[0:0] if isinstance(obj, pd.DataFrame) else None)
            self.dump_to_path(context, frame, path)


def _lake() -> Path:
    return Path(os.environ["PLATFORM_LAKE_URL"])


def _frames(loaded: Any) -> pd.DataFrame:
    """UPathIOManager hands one partition as a frame and several as a dict of frames."""
    return pd.concat(loaded.values(), ignore_index=True) if isinstance(loaded, dict) else loaded


def _parse(rel: str, contract: Any) -> pd.DataFrame:
    path = _lake() / "landing" / rel
    result = read_landed_csvs({rel: (path.read_bytes(), str(path))}, contract)[rel]
    if isinstance(result, Exception):
        raise dg.Failure(str(result))
    return result


def _raw_daily(dataset: str, contract: Any) -> dg.AssetsDefinition:
    @dg.asset(key=["raw", dataset], partitions_def=DAILY, backfill_policy=_SINGLE)
    def _raw(context: dg.AssetExecutionContext) -> dict[str, pd.DataFrame]:
        return {key: _parse(f"{dataset}/{key}.csv", contract) for key in context.partition_keys}

    return _raw


def _reference(name: str, raw_contract: Any) -> list[dg.AssetsDefinition]:
    @dg.asset(key=["raw", name])
    def _raw() -> pd.DataFrame:
        return _parse(f"{name}.csv", raw_contract)

    @dg.asset(key=["curated", name], ins={"raw": dg.AssetIn(key=["raw", name])})
    def _curated(raw: pd.DataFrame) -> pd.DataFrame:
        return curate.curate_reference(name, raw)

    return [_raw, _curated]


@dg.asset(
    key=["curated", "flights"],
    ins={"raw": dg.AssetIn(key=["raw", "flights"]), "airports": dg.AssetIn(key=["curated", "airports"])},
    partitions_def=DAILY,
    backfill_policy=_SINGLE,
)
def curated_flights(raw: Any, airports: pd.DataFrame) -> pd.DataFrame:
    zones = curate.timezone_map(airports, domain_config()["timezone_supplement"])
    return curate.curate_flights(_frames(raw), zones)


@dg.asset(
    key=["curated", "weather"],
    ins={"raw": dg.AssetIn(key=["raw", "weather"])},
    partitions_def=DAILY,
    backfill_policy=_SINGLE,
)
def curated_weather(raw: Any) -> pd.DataFrame:
    return curate.curate_weather(_frames(raw))


def _sql(sql: str, **tables: pd.DataFrame) -> pd.DataFrame:
    conn = duckdb.connect()
    for name, frame in tables.items():
        conn.register(name, pa.Table.from_pandas(frame, preserve_index=False))
    return conn.sql(sql, params=serving.sql_params() if "$on_time_min" in sql else None).df()


def _serving(name: str, sql: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["serving", name],
        ins={"flights": dg.AssetIn(key=["curated", "flights"])},
        partitions_def=DAILY,
        backfill_policy=_SINGLE,
    )
    def _aggregate(flights: Any) -> pd.DataFrame:
        return _sql(sql, flights=_frames(flights))

    return _aggregate


@dg.asset(
    key=["serving", "flight_delay_features"],
    ins={
        "flights": dg.AssetIn(key=["curated", "flights"]),
        "weather": dg.AssetIn(key=["curated", "weather"]),
        "planes": dg.AssetIn(key=["curated", "planes"]),
    },
    partitions_def=DAILY,
    backfill_policy=_SINGLE,
)
def flight_delay_features(flights: Any, weather: Any, planes: pd.DataFrame) -> pd.DataFrame:
    return _sql(
        serving.FLIGHT_FEATURES_SQL, flights=_frames(flights), weather=_frames(weather), planes=planes
    )


defs = dg.Definitions(
    assets=[
        _raw_daily("flights", contracts.RawFlights),
        _raw_daily("weather", contracts.RawWeather),
        *_reference("airlines", contracts.RawAirlines),
        *_reference("airports", contracts.RawAirports),
        *_reference("planes", contracts.RawPlanes),
        curated_flights,
        curated_weather,
        _serving("carrier_daily_performance", serving.CARRIER_DAILY_SQL),
        _serving("route_daily", serving.ROUTE_DAILY_SQL),
        flight_delay_features,
    ],
    executor=dg.in_process_executor,
    resources={
        "io_manager": PartitionedParquetIOManager(
            base_path=UPath(os.environ.get("PLATFORM_LAKE_URL", ".")) / "peer"
        )
    },
)
