"""The exporter on a lake written through `VersionStore`: values, damage, and what a scrape reads.

No Dagster run is needed: versions, pointers and landed files are written the way the
platform writes them, and the expected values come from what the test wrote."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from platform_assets.lake import layout
from platform_assets.lake.versions import RawFile, VersionStore
from platform_assets.observability.exporter import PlatformCollector
from platform_assets.observability.landing_backlog import WatchedDataset
from platform_assets_tests.conftest import Lake

DAYS = ["2013-03-01", "2013-03-02", "2013-03-03"]
SERVING = ["serving", "route_daily"]
FLIGHTS = WatchedDataset("flights", "csv", ("raw", "flights"), True)


def _scrape(collector: PlatformCollector) -> dict[tuple[str, frozenset], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples: dict, name: str, **labels: str) -> float:
    wanted = {(k, v) for k, v in labels.items()}
    found = [value for (n, lbls), value in samples.items() if n == name and wanted <= lbls]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def _rows(samples: dict, asset: str, day: str) -> float:
    return _value(samples, "platform_partition_published_rows", asset=asset, partition=day)


def _write(store: VersionStore, key: list[str], day: str | None, rows: int, publish: bool = True) -> str:
    table = pa.table({"date": [day] * rows, "value": list(range(rows))})
    manifest = store.write_table(key, day, table, run_id="run0001-test")
    if publish:
        store.publish(key, day, manifest["version"])
    return manifest["version"]


@pytest.fixture
def store(lake: Lake) -> VersionStore:
    return lake.versions


def test_rows_held_back_versions_and_backlog_match_what_was_written(store: VersionStore) -> None:
    rows = {DAYS[0]: 11, DAYS[1]: 7}
    for day, count in rows.items():
        _write(store, SERVING, day, count)
    _write(store, SERVING, DAYS[1], 99, publish=False)  # written, not published: readers see 7
    landed = {day: f"day,{day}\n".encode() for day in DAYS}
    for day, data in landed.items():
        store.storage.write_bytes(f"landing/flights/{day}.csv", data)
    # Day 1 ingested as landed; day 2 ingested, then re-landed with other bytes; day 3 not ingested.
    for day in DAYS[:2]:
        store.write_file(["raw", "flights"], day, RawFile(f"{day}.csv", landed[day], "x"), run_id="run0002")
    store.storage.write_bytes(f"landing/flights/{DAYS[1]}.csv", b"corrected\n")

    samples = _scrape(PlatformCollector(store, "dev", [FLIGHTS]))

    for day, count in rows.items():
        assert _rows(samples, "serving/route_daily", day) == count
    unpublished = "platform_partition_unpublished_versions"
    assert _value(samples, unpublished, asset="serving/route_daily", partition=DAYS[1]) == 1
    assert _value(samples, "platform_asset_partitions_held_back", asset="serving/route_daily") == 1
    assert _value(samples, "platform_asset_published_partitions", asset="serving/route_daily") == 2
    assert _value(samples, "platform_landing_files", dataset="flights") == 3
    assert _value(samples, "platform_landing_backlog_files", dataset="flights") == 2
    assert _value(samples, "platform_landing_backlog_oldest_age_seconds", dataset="flights") > 0
    assert all(dict(labels)["env"] == "dev" for _, labels in samples)


def test_unreadable_pointer_and_missing_manifest_are_reported_and_the_rest_is_served(
    store: VersionStore,
) -> None:
    for day in DAYS:
        _write(store, SERVING, day, 5)
    curated = ["curated", "weather"]
    version = _write(store, curated, DAYS[0], 3)
    _write(store, curated, DAYS[1], 4)
    store.storage.write_bytes(layout.pointer_path(SERVING, DAYS[1]), b'{"version": "trunc')
    manifest = store.storage.full_path(
        f"{layout.version_path(curated, DAYS[0], version)}/{layout.MANIFEST_FILE}"
    )
    store.storage.fs.delete_file(manifest)

    collector = PlatformCollector(store, "dev")
    for _ in range(2):  # and again from the cache
        samples = _scrape(collector)
        assert _value(samples, "platform_asset_read_errors", asset="serving/route_daily", kind="pointer") == 1
        assert _value(samples, "platform_asset_read_errors", asset="curated/weather", kind="manifest") == 1
        assert _value(samples, "platform_asset_read_errors", asset="curated/weather", kind="pointer") == 0
        for day in (DAYS[0], DAYS[2]):
            assert _rows(samples, "serving/route_daily", day) == 5
        assert _rows(samples, "curated/weather", DAYS[1]) == 4


def test_a_scrape_reads_only_what_changed(store: VersionStore) -> None:
    for day in DAYS:
        _write(store, SERVING, day, 2)
    collector = PlatformCollector(store, "dev")
    first = _scrape(collector)
    assert _value(first, "platform_exporter_files_read") == 2 * len(DAYS)  # a pointer and a manifest each
    assert _value(_scrape(collector), "platform_exporter_files_read") == 0
    _write(store, SERVING, DAYS[2], 8)
    after = _scrape(collector)
    # The moved pointer, the new manifest, and the publish's audit record (new audit records
    # are read for the catalog's read metrics; records older than the exporter are not).
    assert _value(after, "platform_exporter_files_read") == 3
    assert _rows(after, "serving/route_daily", DAYS[2]) == 8


def test_storage_calls_recorded_by_run_processes_reach_the_exporter(store: VersionStore) -> None:
    from platform_assets.observability import usage

    usage.take_storage_calls()
    store.storage.retrying("read", "x", lambda: b"")
    attempts = iter([OSError("HTTP response code: 503"), None])

    def flaky() -> None:
        error = next(attempts)
        if error:
            raise error

    store.storage.retrying("list", "y", flaky)
    extra = usage.stamp({})
    assert extra["storage"]["read"] == {"requests": 1, "retries": 0, "errors": 0}
    assert extra["storage"]["list"] == {"requests": 2, "retries": 1, "errors": 1}
    assert extra["timings"]["peak_rss_bytes"] > 10 * 1024 * 1024
    table = pa.table({"date": [DAYS[0]], "value": [1]})
    manifest = store.write_table(SERVING, DAYS[0], table, run_id="run0003", extra=extra)
    store.publish(SERVING, DAYS[0], manifest["version"])
    samples = _scrape(PlatformCollector(store, "dev"))
    assert _value(samples, "platform_storage_retries_total", operation="list") == 1
    assert _value(samples, "platform_storage_errors_total", operation="list") == 1
    assert _value(samples, "platform_storage_requests_total", operation="read") == 1


def test_served_metrics_follow_the_lake_through_the_background_reader(store: VersionStore) -> None:
    _write(store, SERVING, DAYS[0], 3)
    collector = PlatformCollector(store, "dev")
    collector.start_refreshing(0.2)
    try:
        assert _rows(_scrape(collector), "serving/route_daily", DAYS[0]) == 3
        _write(store, SERVING, DAYS[0], 6)
        deadline = time.monotonic() + 20
        while _rows(_scrape(collector), "serving/route_daily", DAYS[0]) != 6:
            assert time.monotonic() < deadline, "the served metrics never saw the new publish"
            time.sleep(0.1)
    finally:
        collector.stop_refreshing()


def test_serve_refuses_a_refresh_interval_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    from platform_assets.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["metrics", "serve", "--refresh-seconds", "0"])
    assert exit_info.value.code == 2
    assert "--refresh-seconds must be a positive number, got '0'" in capsys.readouterr().err
