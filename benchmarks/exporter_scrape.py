"""Scrape time of the metrics exporter on a full-year lake (reported, never a pass/fail test).

Synthesises a year quickly through `VersionStore`: 365 daily partitions of eight assets
(two raw assets copying landed files, six table assets), each partition published, with
an audit record, and a second unpublished version on every tenth partition; the landing
area holds every day's files. Then times a cold scrape (everything read once), a warm
scrape (nothing changed) and a scrape after one partition was re-published.

    .venv/bin/python benchmarks/exporter_scrape.py [lake folder]"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta

import pyarrow as pa
from prometheus_client import CollectorRegistry, generate_latest

from platform_assets.lake import history
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import RawFile, VersionStore
from platform_assets.observability.exporter import PlatformCollector
from platform_assets.observability.landing_backlog import WatchedDataset

RAW = [("raw", "flights"), ("raw", "weather")]
TABLES = [
    ("curated", "flights"), ("curated", "weather"), ("curated", "extra"),
    ("serving", "carrier_daily_performance"), ("serving", "route_daily"),
    ("serving", "flight_delay_features"),
]  # fmt: skip
DAYS = [(date(2013, 1, 1) + timedelta(days=i)).isoformat() for i in range(365)]


def synthesise(store: VersionStore) -> None:
    audit = {"passed": True, "checks": {"contract": {"passed": True, "severity": "ERROR"}}}
    for index, day in enumerate(DAYS):
        for zone, name in RAW:
            data = f"day,{day},{name}\n".encode() * 50
            store.storage.write_bytes(f"landing/{name}/{day}.csv", data)
            raw = RawFile(f"{day}.csv", data, "x")
            manifest = store.write_file([zone, name], day, raw, run_id="bench0001")
            store.publish([zone, name], day, manifest["version"])
        for zone, name in TABLES:
            table = pa.table({"date": [day] * 100, "value": list(range(100))})
            manifest = store.write_table([zone, name], day, table, run_id="bench0001")
            history.record_audit(store, [zone, name], day, manifest["version"], **audit)
            store.publish([zone, name], day, manifest["version"])
            if index % 10 == 0:
                store.write_table([zone, name], day, table, run_id="bench0002")


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds: on a shared machine the CPU time is what the exporter itself costs."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="year-lake-")
    store = VersionStore(LakeStorage.from_url(root))
    if not store.storage.list_names("serving"):
        started = time.perf_counter()
        synthesise(store)
        print(f"synthesised a year in {time.perf_counter() - started:.0f} s at {root}")
    datasets = [WatchedDataset(name, "csv", (zone, name), True) for zone, name in RAW]
    collector = PlatformCollector(store, "dev", datasets)
    wall, cpu = timed(collector.refresh)
    reads = collector.lake.reads + collector.backlog.reads
    print(f"first reading: {wall:.2f} s wall, {cpu:.2f} s CPU, {reads} files read")
    warm = sorted(timed(collector.refresh) for _ in range(5))
    reads = collector.lake.reads + collector.backlog.reads
    median = warm[2]
    print(
        f"reading, nothing changed: median {median[0]:.3f} s wall, {median[1]:.3f} s CPU, {reads} files read"
    )
    table = pa.table({"date": [DAYS[-1]] * 100, "value": list(range(100))})
    manifest = store.write_table(["serving", "route_daily"], DAYS[-1], table, run_id="bench0003")
    store.publish(["serving", "route_daily"], DAYS[-1], manifest["version"])
    wall, cpu = timed(collector.refresh)
    print(f"reading after one publish: {wall:.3f} s wall, {cpu:.3f} s CPU, {collector.lake.reads} files read")
    collector.start_refreshing(30.0)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    generate_latest(registry)
    scrapes = sorted(timed(lambda: generate_latest(registry)) for _ in range(9))
    print(
        f"scrape (serving the latest reading): median {scrapes[4][0]:.3f} s wall, {scrapes[4][1]:.3f} s CPU"
    )
    text = generate_latest(registry).decode()
    samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(f"{samples} samples, {len(text) / 1024:.0f} KiB per scrape")
    collector.stop_refreshing()


if __name__ == "__main__":
    main()
