"""The exporter scraped by a real Prometheus (Debian's package) while the platform runs.

Prometheus starts on a loopback port with the repository's scrape config and alert
rules, pointed at an exporter serving a temporary lake and Dagster instance; three
days land, the reference tables and two days are materialized, and the series are
read back through Prometheus's HTTP API. Expected values come from the lake's files
read directly (Parquet row counts, landed bytes against raw copies) and from the
Dagster instance, never from the exporter."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from platform_assets.definitions import defs
from platform_assets.logs import LOGGER_NAME
from platform_assets.observability.exporter import PlatformCollector
from platform_assets.observability.serve import watched_datasets
from platform_assets_tests.conftest import Lake, free_port, local_lake
from platform_assets_tests.pipeline import land_days, materialize_daily, materialize_reference

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
DAYS = ("2013-01-01", "2013-01-02")
LANDED_UNTIL = "2013-01-03"  # landed, never materialized: the backlog


@dataclass
class Stack:
    lake: Lake
    root: Path
    instance: dg.DagsterInstance
    prometheus: str
    daily_run_id: str
    started: float
    logs: list[dict[str, Any]] = field(default_factory=list)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def values(self, expr: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {tuple(r["metric"].get(n, "") for n in labels): float(r["value"][1]) for r in self.query(expr)}


class _Capture(logging.Handler):
    def __init__(self, into: list[dict[str, Any]]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(json.loads(record.getMessage()))


def _wait(predicate, what: str, timeout: float = 60.0) -> None:  # noqa: ANN001 - a zero-argument callable
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _prometheus_config(directory: Path, exporter_port: int) -> Path:
    """The repository's config, with the target, intervals and rule path of this test."""
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    # Short enough for a fast test, long enough that a scrape on a busy CI machine finishes.
    config["global"].update(scrape_interval="5s", evaluation_interval="5s")
    config["rule_files"] = [str(REPO / "deploy" / "prometheus" / name) for name in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["scrape_timeout"] = "5s"
    job["static_configs"] = [{"targets": [f"127.0.0.1:{exporter_port}"]}]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing; `make test` installs Debian's prometheus package")
    root = tmp_path_factory.mktemp("observability")
    lake = local_lake(root)
    (root / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(root / "dagster_home"))
    collector = PlatformCollector(lake.versions, "dev", watched_datasets(defs.assets or []), lambda: instance)
    collector.start_refreshing(1.0)  # as `platform metrics serve` runs it, only more often
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={_prometheus_config(root, server.server_port)}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "prometheus.log").open("w"),
    )
    captured: list[dict[str, Any]] = []
    handler = _Capture(captured)
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        stack = Stack(lake, root, instance, f"http://127.0.0.1:{port}", "", time.time(), captured)
        _wait(lambda: urllib.request.urlopen(f"{stack.prometheus}/-/ready", timeout=2).status == 200, "ready")
        land_days(lake, DAYS[0], LANDED_UNTIL)
        materialize_reference(lake, instance)
        # The mean-duration panel divides two rates: it has a value only where Prometheus saw a
        # zone's run count rise, so the first run must be scraped before the second finishes.
        _wait(lambda: stack.values("sum(platform_run_duration_seconds_count) == 1"), "the first run scraped")
        stack.daily_run_id = materialize_daily(lake, instance, *DAYS).run_id
        done = time.time()
        # A reading that started after the last run finished, scraped: every series is current.
        reading = "platform_exporter_refresh_timestamp_seconds"
        _wait(lambda: stack.values(f"{reading} > {done}"), "a reading after the runs")
        yield stack
    finally:
        logger.removeHandler(handler)
        collector.stop_refreshing()
        process.terminate()
        process.wait(timeout=30)
        server.shutdown()
        thread.join(timeout=5)
        instance.dispose()


def _published_parquet_rows(root: Path) -> dict[tuple[str, str], int]:
    """(asset, partition) -> rows of the published version, counted from its Parquet files."""
    rows = {}
    for pointer in (root / "lake").glob("*/*/date=*/_published.json"):
        version = json.loads(pointer.read_text())["version"]
        files = sorted((pointer.parent / f"v={version}").glob("*.parquet"))
        if files:
            asset = f"{pointer.parents[2].name}/{pointer.parents[1].name}"
            rows[(asset, pointer.parent.name.split("=", 1)[1])] = sum(
                pq.read_metadata(f).num_rows for f in files
            )
    return rows


def test_rows_are_the_published_versions_row_counts(stack: Stack) -> None:
    expected = _published_parquet_rows(stack.root)
    assert len(expected) == 5 * len(DAYS)  # curated flights/weather, three serving assets
    found = stack.values('platform_partition_published_rows{partition!=""}', "asset", "partition")
    assert {k: v for k, v in found.items() if not k[0].startswith("raw/")} == expected


def test_backlog_is_the_files_landed_but_not_ingested(stack: Stack) -> None:
    lake = stack.root / "lake"
    expected: dict[str, int] = {}
    for landed in (lake / "landing").rglob("*.csv"):
        dataset = landed.parent.name if landed.parent.name != "landing" else landed.stem
        day = landed.stem if landed.parent.name != "landing" else None
        raw = lake / "raw" / dataset / (f"date={day}" if day else "")
        copies = [p.read_bytes() for p in raw.glob("v=*/*.csv")]
        ingested = hashlib.sha256(landed.read_bytes()).digest() in {
            hashlib.sha256(c).digest() for c in copies
        }
        expected[dataset] = expected.get(dataset, 0) + (not ingested)
    assert expected == {"flights": 1, "weather": 1, "airlines": 0, "airports": 0, "planes": 0}
    backlog = stack.values("platform_landing_backlog_files", "dataset")
    assert {k: v for k, v in backlog.items() if k[0] in expected} == {(k,): v for k, v in expected.items()}
    assert all(v == 0 for k, v in backlog.items() if k[0] not in expected)  # other domains: nothing landed
    ages = stack.values("platform_landing_backlog_oldest_age_seconds", "dataset")
    assert ages[("flights",)] > 0 and ages[("planes",)] == 0


def test_freshness_is_the_time_since_the_latest_publish(stack: Stack) -> None:
    from platform_assets.lake.history import parse_time

    lake = stack.root / "lake"
    for asset in ("carrier_daily_performance", "route_daily", "flight_delay_features"):
        published = max(
            parse_time(json.loads(p.read_text())["published_at"]).timestamp()
            for p in (lake / "serving" / asset).glob("date=*/_published.json")
        )
        labels = f'{{asset="serving/{asset}"}}'
        (stamp,) = stack.values(f"platform_asset_last_published_timestamp_seconds{labels}").values()
        assert stamp == pytest.approx(published, abs=0.01)
        (result,) = stack.query(f"platform_asset_published_age_seconds{labels}")
        scraped_at, age = float(result["value"][0]), float(result["value"][1])
        assert 0 <= scraped_at - published - age <= 15  # as of a reading at most a few scrapes old
        (newest,) = stack.values(f"platform_asset_newest_partition_end_timestamp_seconds{labels}").values()
        assert newest == pytest.approx(1357171200)  # the end of 2013-01-02 UTC


def test_run_and_step_durations_match_the_instance(stack: Stack) -> None:
    records = stack.instance.get_run_records()
    assert len(records) == 2
    count = sum(stack.values("platform_run_duration_seconds_count", "zone", "status").values())
    (total,) = stack.values("sum(platform_run_duration_seconds_sum)").values()
    assert count == 2
    assert total == pytest.approx(sum(r.end_time - r.start_time for r in records), abs=0.01)
    steps = {
        s.step_key: s.end_time - s.start_time
        for r in records
        for s in stack.instance.get_run_step_stats(r.dagster_run.run_id)
    }
    last = stack.values("platform_step_last_duration_seconds", "asset", "step")
    assert last[("serving/route_daily", "write")] == pytest.approx(steps["serving__route_daily"], abs=0.05)
    assert last[("curated/flights", "audit")] == pytest.approx(steps["audit_curated__flights"], abs=0.05)
    assert stack.values("sum(platform_steps_total)") == {(): len(steps)}


def test_logs_metrics_and_manifests_share_run_id_and_env(stack: Stack) -> None:
    written = [r for r in stack.logs if r["event"] == "version_written" and r["asset"].startswith("serving/")]
    assert written and all(r["env"] == "dev" and r["run_id"] == stack.daily_run_id for r in written)
    for record in written:
        zone, name = record["asset"].split("/")
        folder = stack.root / "lake" / zone / name / f"date={record['partition']}" / f"v={record['version']}"
        manifest = json.loads((folder / "_manifest.json").read_text())
        assert (manifest["run_id"], manifest["env"]) == (stack.daily_run_id, "dev")
    cpu = stack.values('platform_asset_step_cpu_seconds{zone="serving"}', "run_id", "env")
    assert set(cpu) == {(stack.daily_run_id, "dev")}
    last_run = stack.values("platform_run_last_duration_seconds", "run_id", "env")
    assert set(last_run) == {(stack.daily_run_id, "dev")}


def test_every_dashboard_panel_returns_data(stack: Stack) -> None:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "platform.json").read_text())
    assert dashboard["panels"]
    window = f"{math.ceil(time.time() - stack.started) + 60}s"  # a dashboard range covering the runs
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$env", "dev").replace("$__rate_interval", window)
            values = [float(r["value"][1]) for r in stack.query(expr)]
            assert any(math.isfinite(v) for v in values), f"panel {panel['title']!r} shows nothing: {expr}"


def test_alert_rules_evaluate_against_the_real_series(stack: Stack) -> None:
    with urllib.request.urlopen(f"{stack.prometheus}/api/v1/rules", timeout=10) as response:
        groups = json.loads(response.read())["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 8
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
    firing = {rule["name"] for rule in rules if rule["state"] != "inactive"}
    assert firing == set(), firing  # a healthy two-day run pages nobody
