"""The platform runs itself under `dagster dev`: landed days reach serving with no launch by hand.

One lean test (it is the slow one): start `dagster dev` on a free loopback port with a
temporary DAGSTER_HOME (the repo's dagster.yaml) and lake, land one day, wait for its
serving partitions to be published, then a second day, and check through GraphQL
that every run was started by a sensor and carried its zone tag."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from platform_assets.automation import zone_automation_sensor_name
from platform_assets.automation.landing_sensor import LANDING_SENSOR_NAME
from platform_assets.domains.flights.source import land
from platform_assets.lake import layout
from platform_assets_tests.conftest import local_lake
from platform_assets_tests.dagster_dev import DagsterDev, dagster_dev

pytestmark = pytest.mark.integration

SERVING = ["carrier_daily_performance", "route_daily", "flight_delay_features"]
DAYS = ["2013-02-01", "2013-02-02"]
PUBLISH_TIMEOUT_S = 240  # generous: under pytest-xdist the suite shares two cores with dagster dev
SENSOR_TAG = "dagster/sensor_name"
AUTOMATED_BY = {
    LANDING_SENSOR_NAME,
    zone_automation_sensor_name("curated"),
    zone_automation_sensor_name("serving"),
}

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
RUNS_QUERY = """
{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }
"""
MATERIALIZATIONS_QUERY = """
query ($path: [String!]!, $partitions: [String!]) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetMaterializations(partitions: $partitions) { partition runId } }
  }
}
"""


def _published(lake_root: Path, day: str) -> bool:
    return all((lake_root / layout.pointer_path(["serving", name], day)).exists() for name in SERVING)


def _wait_published(dev: DagsterDev, lake_root: Path, day: str) -> float:
    """Seconds from now until every serving partition of `day` is published."""
    started = time.monotonic()
    while not _published(lake_root, day):
        if time.monotonic() - started > PUBLISH_TIMEOUT_S:
            raise TimeoutError(
                f"{day} not published after {PUBLISH_TIMEOUT_S}s:\n{dev.log.read_text()[-6000:]}"
            )
        if dev.process.poll() is not None:
            raise RuntimeError(f"dagster dev exited:\n{dev.log.read_text()[-4000:]}")
        time.sleep(0.5)
    return time.monotonic() - started


def _settled_runs(dev: DagsterDev, timeout_s: float = 60) -> list[dict]:
    """All runs, once none is queued or running (a pointer is published before its run ends)."""
    deadline = time.monotonic() + timeout_s
    while True:
        runs = dev.graphql(RUNS_QUERY)["runsOrError"]["results"]
        if all(run["status"] in TERMINAL for run in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def test_landed_days_flow_to_serving_without_a_click(tmp_path: Path) -> None:
    lake = local_lake(tmp_path)
    lake_root = Path(lake.url)
    env = {**lake.env(), "PLATFORM_SENSOR_INTERVAL_SECONDS": "2"}
    latencies = {}
    with dagster_dev(tmp_path / "dagster_home", env) as dev:
        for day in DAYS:
            land(lake.storage, date.fromisoformat(day), date.fromisoformat(day))
            latencies[day] = _wait_published(dev, lake_root, day)
            print(f"landing-to-published latency for {day}: {latencies[day]:.1f}s")

        for name in SERVING:  # Dagster agrees: each serving partition was materialized
            data = dev.graphql(MATERIALIZATIONS_QUERY, {"path": ["serving", name], "partitions": DAYS})
            found = {m["partition"] for m in data["assetOrError"]["assetMaterializations"]}
            assert found == set(DAYS), name
        runs = _settled_runs(dev)

    assert runs, "no runs at all"
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags.get(SENSOR_TAG) in AUTOMATED_BY, f"run {run['runId']} was not started by a sensor: {tags}"
        assert tags.get("zone") in ("raw", "curated", "serving"), tags
        assert run["status"] == "SUCCESS", run
    zones = {t["value"] for run in runs for t in run["tags"] if t["key"] == "zone"}
    assert zones == {"raw", "curated", "serving"}
