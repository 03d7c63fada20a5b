"""Bytes read by catalog queries, as `platform metrics serve` exposes them to a scrape.

The catalog reads through its own `Catalog`, as a notebook would, and the exporter
learns of it only through the lake (the audit records reads leave); the expected bytes
are the sizes of the data files each query needed, from the lake's own listing."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from platform_assets.catalog import Catalog
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets.observability.exporter import PlatformCollector
from platform_assets_tests.index_lake import KEY, NAME, build_local

DAYS = ["2013-02-01", "2013-02-02", "2013-02-03"]
METRIC = "platform_catalog_read_bytes_total"


def _file_bytes(storage: LakeStorage, day: str) -> int:
    return sum(
        f.size for f in storage.list_files(f"{'/'.join(KEY)}/date={day}") if f.path.endswith(".parquet")
    )


def _scrape(url: str) -> dict[tuple[str, str], float]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (METRIC, "platform_catalog_reads_total"):
                found[(sample.name, sample.labels.get("asset", ""))] = sample.value
    return found


def _until(url: str, expected: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    deadline = time.monotonic() + 60
    while True:
        try:
            found = _scrape(url)
        except OSError:
            found = {}
        if all(found.get(k) == v for k, v in expected.items()) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LakeStorage, str]]:
    """The collector `platform metrics serve` registers, refreshing in the background and
    served over HTTP the way that command serves it."""
    storage = build_local(tmp_path / "lake", DAYS)
    collector = PlatformCollector(VersionStore(storage), "dev")
    collector.start_refreshing(0.2)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield storage, f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        collector.stop_refreshing()
        server.shutdown()
        thread.join(timeout=5)


def test_bytes_read_by_catalog_queries_reach_the_scrape(served: tuple[LakeStorage, str]) -> None:
    storage, url = served
    deadline = time.monotonic() + 60
    while True:  # the exporter process is up once it answers a scrape
        try:
            before = _scrape(url)
            break
        except OSError:
            assert time.monotonic() < deadline, "platform metrics serve never answered"
            time.sleep(0.2)
    assert (METRIC, NAME) not in before  # no catalog read yet
    catalog = Catalog(storage)
    catalog.sql("SELECT sum(flights) FROM bench_daily WHERE date = $d", {"d": DAYS[1]})
    one_day = _file_bytes(storage, DAYS[1])
    found = _until(url, {(METRIC, NAME): one_day, ("platform_catalog_reads_total", NAME): 1})
    assert found[(METRIC, NAME)] == one_day and found[("platform_catalog_reads_total", NAME)] == 1

    catalog.load(NAME, partitions=[DAYS[0], DAYS[2]], columns=["delay"])
    total = one_day + _file_bytes(storage, DAYS[0]) + _file_bytes(storage, DAYS[2])
    found = _until(url, {(METRIC, NAME): total, ("platform_catalog_reads_total", NAME): 2})
    assert found[(METRIC, NAME)] == total and found[("platform_catalog_reads_total", NAME)] == 2
