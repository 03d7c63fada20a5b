"""How long a landed day takes to reach serving under `dagster dev`, with the shipped settings.

Starts `dagster dev` (bound to 127.0.0.1, a free port) on a temporary DAGSTER_HOME
with the repository's dagster.yaml and a fresh local lake, every sensor as shipped
(PLATFORM_SENSOR_INTERVAL_SECONDS is removed from the environment). It lands a seed
day with the reference tables and waits for the platform to build it (the cold
start is not measured), then lands `--days` consecutive days, one every `--every`
seconds, the way `platform land` does. A day's latency is from the moment its files
are in landing to the latest `published_at` of its serving partitions' publish
pointers: landed -> raw -> curated -> serving, audits and publish included.

    .venv/bin/python benchmarks/incremental_day.py [--days 10] [--every 15] [--start 2013-02-01]

The last line is for scripts: `INCREMENTAL_DAY {"p50_s": ..., "p95_s": ..., ...}`.
p95 is the nearest-rank percentile (with 10 days, the slowest day)."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

SERVING = ("carrier_daily_performance", "route_daily", "flight_delay_features")
SEED_TIMEOUT_S = 600
DAY_TIMEOUT_S = 300


def _published_at(store, day: str, assets: tuple[str, ...]) -> float | None:
    """When the last of the day's serving partitions was published (epoch seconds), or None."""
    latest = 0.0
    for name in assets:
        pointer = store.pointer(["serving", name], day)
        if pointer is None:
            return None
        latest = max(latest, datetime.fromisoformat(pointer["published_at"]).timestamp())
    return latest


def _wait(store, days: list[str], assets: tuple[str, ...], timeout_s: float) -> dict[str, float | None]:
    deadline = time.monotonic() + timeout_s
    found: dict[str, float | None] = dict.fromkeys(days)
    while time.monotonic() < deadline:
        for day in days:
            if found[day] is None:
                found[day] = _published_at(store, day, assets)
        if all(v is not None for v in found.values()):
            break
        time.sleep(0.5)
    return found


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _runs(home: Path) -> int:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.get_runs_count()


def _stages(home: Path, landed: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per day, seconds from landing to its run's creation (the sensor tick), start and end."""
    import dagster as dg

    out: dict[str, dict[str, float]] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_run_records(dg.RunsFilter(tags={"platform/trigger": "landing"})):
            day = record.dagster_run.tags.get("dagster/partition")
            if day not in landed or not record.start_time or not record.end_time:
                continue
            out[day] = {
                "tick_s": round(record.create_timestamp.timestamp() - landed[day], 2),
                "start_s": round(record.start_time - landed[day], 2),
                "end_s": round(record.end_time - landed[day], 2),
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=10, help="days landed and measured (default 10)")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between landings (default 15)")
    parser.add_argument(
        "--start", default="2013-02-01", help="first measured day; the day before is the seed"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows in a log as it happens
    # A timeout's SIGTERM unwinds like Ctrl-C, so `dagster dev` and its daemon are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.days < 1:
        parser.error("--days must be at least 1")
    first = date.fromisoformat(args.start)
    seed = (first - timedelta(days=1)).isoformat()
    days = [(first + timedelta(days=n)).isoformat() for n in range(args.days)]

    os.environ.pop("PLATFORM_SENSOR_INTERVAL_SECONDS", None)  # the shipped intervals, not a test's
    work = Path(tempfile.mkdtemp(prefix="platform-incremental-"))
    lake_url = str(work / "lake")
    os.environ["PLATFORM_LAKE_URL"] = lake_url
    from platform_assets.domains.flights.source import land
    from platform_assets.lake.storage import LakeStorage
    from platform_assets.lake.versions import VersionStore
    from platform_assets_tests.dagster_dev import dagster_dev

    storage = LakeStorage.from_url(lake_url)
    store = VersionStore(storage)
    home = work / "dagster_home"
    latencies: dict[str, float] = {}
    try:
        with dagster_dev(home, {"PLATFORM_LAKE_URL": lake_url}):
            began = time.monotonic()
            land(storage, date.fromisoformat(seed), date.fromisoformat(seed))
            if _wait(store, [seed], SERVING, SEED_TIMEOUT_S)[seed] is None:
                print(
                    f"seed day {seed} never reached serving; see {home / 'dagster-dev.log'}", file=sys.stderr
                )
                return 1
            cold = time.monotonic() - began
            print(f"seed day {seed} (reference tables, cold start) in serving after {cold:.1f} s")
            runs_before = _runs(home)
            landed: dict[str, float] = {}
            for index, day in enumerate(days):
                if index:
                    time.sleep(max(0.0, landed[days[index - 1]] + args.every - time.time()))
                land(storage, date.fromisoformat(day), date.fromisoformat(day))
                landed[day] = time.time()
            published = _wait(store, days, SERVING, DAY_TIMEOUT_S)
            runs = _runs(home) - runs_before
            stages = _stages(home, landed)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    missing = [d for d, at in published.items() if at is None]
    for day in days:
        at = published[day]
        if at is not None:
            latencies[day] = at - landed[day]
        shown = f"{latencies[day]:6.1f} s" if day in latencies else "  not published"
        stage = stages.get(day)
        run = ""
        if stage:
            run = f" (run created +{stage['tick_s']} s, started +{stage['start_s']} s,"
            run += f" ended +{stage['end_s']} s)"
        print(f"{day}: landed {datetime.fromtimestamp(landed[day], UTC):%H:%M:%S} -> serving {shown}{run}")
    values = list(latencies.values())
    summary = {
        "days": len(days),
        "published": len(values),
        "every_s": args.every,
        "p50_s": round(statistics.median(values), 2) if values else None,
        "p95_s": round(nearest_rank(values, 0.95), 2) if values else None,
        "max_s": round(max(values), 2) if values else None,
        "runs": runs,
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(f"p50 {summary['p50_s']} s, p95 {summary['p95_s']} s over {len(values)} days; {runs} runs")
    print("INCREMENTAL_DAY " + json.dumps(summary, sort_keys=True))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
