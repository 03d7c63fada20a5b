"""Time a single-run backfill of the whole graph for 2013 against a plain pandas script.

Both sides start from the same landed CSVs in a fresh local lake and write one
Parquet file per day per table. The platform additionally writes manifests and
publish pointers, copies raw files, and records provenance: the ratio is the price
of those guarantees.

    .venv/bin/python benchmarks/backfill_year.py [--start 2013-01-01] [--end 2013-12-31]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def platform_backfill(lake_url: str, start: str, end: str) -> float:
    from platform_assets.definitions import build_definitions
    from platform_assets.lake.resources import LakeResource

    defs = build_definitions(LakeResource(lake_url=lake_url))
    # The flights domain (its daily assets share one calendar; ML has its own weekly one).
    assets = [
        a
        for a in defs.assets
        if isinstance(a, dg.AssetsDefinition)
        and {s.tags.get("domain") for s in a.specs} == {"flights"}
        and {s.group_name for s in a.specs} != {"ml"}
    ]
    graph = [*assets, *(defs.asset_checks or [])]  # the audits publish what passes
    instance = dg.DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    began = time.perf_counter()
    reference = [a.key for a in assets if a.partitions_def is None]
    daily = [a.key for a in assets if a.partitions_def is not None]
    assert dg.materialize(
        graph, selection=reference, resources=defs.resources, instance=instance, run_config=quiet
    ).success
    tags = {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
    result = dg.materialize(
        graph, selection=daily, resources=defs.resources, instance=instance, tags=tags, run_config=quiet
    )
    assert result.success
    return time.perf_counter() - began


def _hhmm_minutes(series: pd.Series) -> pd.Series:
    return (series // 100) * 60 + series % 100


def _to_utc(local: pd.Series, zones: pd.Series) -> pd.Series:
    out = pd.Series(pd.NaT, index=local.index, dtype="datetime64[us, UTC]")
    for zone, idx in local.groupby(zones).groups.items():
        out.loc[idx] = (
            local.loc[idx]
            .dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
            .dt.tz_convert("UTC")
        )
    return out


def pandas_baseline(landing: Path, out: Path, start: str, end: str) -> float:
    """The same transformations as a notebook would write them: no versions, no manifests."""
    began = time.perf_counter()
    days = pd.date_range(start, end).strftime("%Y-%m-%d")
    flights = pd.concat(
        [pd.read_csv(landing / "flights" / f"{d}.csv") for d in days], ignore_index=True
    ).drop_duplicates()
    weather = pd.concat(
        [pd.read_csv(landing / "weather" / f"{d}.csv") for d in days], ignore_index=True
    ).drop_duplicates(subset=["origin", "time_hour"])
    airports = pd.read_csv(landing / "airports.csv")
    planes = pd.read_csv(landing / "planes.csv")

    zones = dict(zip(airports["faa"], airports["tzone"], strict=True))
    zones.update({"BQN": "America/Puerto_Rico", "PSE": "America/Puerto_Rico",
                  "SJU": "America/Puerto_Rico", "STT": "America/St_Thomas"})  # fmt: skip
    flights["date"] = pd.to_datetime(flights[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")
    midnight = pd.to_datetime(flights["date"])
    ny = pd.Series("America/New_York", index=flights.index)
    flights["sched_dep_utc"] = _to_utc(
        midnight + pd.to_timedelta(_hhmm_minutes(flights["sched_dep_time"]), unit="min"), ny
    )
    flights["dep_utc"] = flights["sched_dep_utc"] + pd.to_timedelta(flights["dep_delay"], unit="min")
    dest_zone = flights["dest"].map(zones)
    for when, hhmm, name in (
        ("sched_dep_utc", "sched_arr_time", "sched_arr_utc"),
        ("dep_utc", "arr_time", "arr_utc"),
    ):
        base = pd.Series(pd.NaT, index=flights.index, dtype="datetime64[us]")
        for zone, idx in flights.groupby(dest_zone).groups.items():
            base.loc[idx] = flights.loc[idx, when].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
        local = base + pd.to_timedelta(_hhmm_minutes(flights[hhmm]), unit="min")
        arrival = _to_utc(local, dest_zone)
        early = arrival < flights[when]
        arrival[early] = _to_utc(local[early] + pd.Timedelta(days=1), dest_zone[early])
        flights[name] = arrival
    flights["cancelled"] = flights["dep_time"].isna()
    flights["diverted"] = ~flights["cancelled"] & flights["arr_delay"].isna()
    flights["time_hour"] = pd.to_datetime(flights["time_hour"], utc=True)
    weather["time_hour"] = pd.to_datetime(weather["time_hour"], utc=True)
    weather["date"] = pd.to_datetime(weather[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")

    def on_time(s: pd.Series) -> float:
        s = s.dropna()
        return (s <= 15).mean() if len(s) else float("nan")

    carrier = flights.groupby(["date", "carrier"]).agg(
        flights=("flight", "size"), cancelled=("cancelled", "sum"), diverted=("diverted", "sum"),
        on_time_arrival_rate=("arr_delay", on_time), mean_dep_delay_min=("dep_delay", "mean"),
        p90_dep_delay_min=("dep_delay", lambda s: s.quantile(0.9)),
        mean_arr_delay_min=("arr_delay", "mean"),
        p90_arr_delay_min=("arr_delay", lambda s: s.quantile(0.9)),
    ).reset_index()  # fmt: skip
    routes = flights.groupby(["date", "origin", "dest"]).agg(
        flights=("flight", "size"), cancelled=("cancelled", "sum"), carriers=("carrier", "nunique"),
        on_time_arrival_rate=("arr_delay", on_time), mean_dep_delay_min=("dep_delay", "mean"),
        mean_arr_delay_min=("arr_delay", "mean"), mean_air_time_min=("air_time", "mean"),
        distance_miles=("distance", "max"),
    ).reset_index()  # fmt: skip
    features = flights.merge(
        weather.drop(columns=["year", "month", "day", "hour", "date"]), on=["origin", "time_hour"], how="left"
    ).merge(
        planes.add_prefix("plane_").rename(columns={"plane_tailnum": "tailnum"}), on="tailnum", how="left"
    )

    for name, table in (("curated_flights", flights), ("curated_weather", weather),
                        ("carrier_daily_performance", carrier), ("route_daily", routes),
                        ("flight_delay_features", features)):  # fmt: skip
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        by_day = table["date"].groupby(table["date"]).indices
        for day, idx in by_day.items():
            target = out / name / f"date={day}"
            target.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            pq.write_table(arrow.take(pa.array(idx)), buffer, compression="zstd")
            (target / "part-00000.parquet").write_bytes(buffer.getvalue())
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", default="2013-01-01")
    parser.add_argument("--end", default="2013-12-31")
    args = parser.parse_args()
    from platform_assets.domains.flights.source import land
    from platform_assets.lake.storage import LakeStorage

    work = Path(tempfile.mkdtemp(prefix="platform-bench-"))
    try:
        lake = work / "lake"
        storage = LakeStorage.from_url(str(lake))
        landed_at = time.perf_counter()
        land(storage, date.fromisoformat(args.start), date.fromisoformat(args.end))
        landing_s = time.perf_counter() - landed_at
        baseline_s = pandas_baseline(lake / "landing", work / "baseline", args.start, args.end)
        platform_s = platform_backfill(str(lake), args.start, args.end)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    days = (date.fromisoformat(args.end) - date.fromisoformat(args.start)).days + 1
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"range: {args.start}..{args.end} ({days} days)")
    print(f"landing (not compared):          {landing_s:8.1f} s")
    print(f"plain pandas baseline:           {baseline_s:8.1f} s")
    print(f"platform single-run backfill:    {platform_s:8.1f} s")
    print(f"ratio platform / baseline:       {platform_s / baseline_s:8.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
