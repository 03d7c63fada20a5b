"""The landing sensor against a real instance, on a local lake and on S3 (moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import pytest

from platform_assets.automation.config import AutomationSettings
from platform_assets.automation.landing_scan import LandingArea, LandingCursor, landing_datasets
from platform_assets.automation.landing_sensor import LANDING_SENSOR_NAME, RANGE_START_TAG, plan_runs
from platform_assets.definitions import build_definitions
from platform_assets.lake.landing import landing_path
from platform_assets_tests.conftest import Lake
from platform_assets_tests.pipeline import land_days

pytestmark = pytest.mark.integration

RAW_FLIGHTS = dg.AssetKey(["raw", "flights"])
RAW_WEATHER = dg.AssetKey(["raw", "weather"])


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


class Ticker:
    """Evaluates the landing sensor the way the daemon does: cursor in, result and cursor out."""

    def __init__(self, lake: Lake, instance: dg.DagsterInstance, settings: AutomationSettings) -> None:
        self.defs = build_definitions(lake.resource, settings)
        self.sensor = self.defs.resolve_sensor_def(LANDING_SENSOR_NAME)
        self.instance = instance
        self.lake = lake
        self.cursor: str | None = None

    def tick(self) -> list[dg.RunRequest]:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"lake": self.lake.resource}
        )
        result = self.sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        return list(result.run_requests or [])

    def execute(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        """Run a request in process, exactly as the daemon would launch it (same tags and selection)."""
        return dg.materialize(
            [*self.defs.assets, *(self.defs.asset_checks or [])],
            selection=request.asset_selection,
            partition_key=request.partition_key,
            tags=request.tags,
            resources=self.defs.resources,
            instance=self.instance,
        )


def _rewrite(lake: Lake, rel: str, change: bool) -> bytes:
    data = lake.storage.read_bytes(rel)
    if change:
        data = data[:-2] + (b"0" if data[-2:-1] != b"0" else b"1") + data[-1:]
    lake.storage.write_bytes(rel, data)
    return data


def test_each_landed_file_content_is_ingested_exactly_once(lake: Lake, instance: dg.DagsterInstance) -> None:
    ticker = Ticker(lake, instance, AutomationSettings())
    assert ticker.tick() == []  # nothing landed: nothing requested
    land_days(lake, "2013-02-01", "2013-02-02")

    first = ticker.tick()
    reference = [r for r in first if r.partition_key is None and RANGE_START_TAG not in r.tags]
    daily = [r for r in first if r not in reference]
    assert len(reference) == 1 and len(daily) == 1  # a backlog is one run per stretch, not one per file
    assert {k.path[1] for k in reference[0].asset_selection or []} == {"airlines", "airports", "planes"}
    (days,) = daily
    # The days' run carries on through what the landed files alone feed (curated weather);
    # curated flights waits for the reference tables, landed in the same tick.
    assert set(days.asset_selection or []) == {RAW_FLIGHTS, RAW_WEATHER, dg.AssetKey(["curated", "weather"])}
    assert (days.tags[RANGE_START_TAG], days.tags["dagster/asset_partition_range_end"]) == (
        "2013-02-01",
        "2013-02-02",
    )
    assert all(r.tags["zone"] == "raw" for r in first)  # the run queue limits runs per zone
    assert ticker.execute(days).success  # the request really ingests the range
    assert lake.versions.partitions(["raw", "flights"]) == ["2013-02-01", "2013-02-02"]

    assert ticker.tick() == []  # the same files: nothing again

    # Re-landing identical bytes (a new mtime locally, the same ETag on S3) is not a change.
    _rewrite(lake, landing_path("flights", "2013-02-02"), change=False)
    _rewrite(lake, landing_path("airlines"), change=False)
    assert ticker.tick() == []

    # One changed byte re-ingests exactly that file's partition, under a new run key.
    _rewrite(lake, landing_path("flights", "2013-02-02"), change=True)
    (again,) = ticker.tick()
    assert again.partition_key == "2013-02-02"
    assert again.asset_selection == [RAW_FLIGHTS]
    assert again.run_key not in {r.run_key for r in first}
    assert ticker.tick() == []

    # Reverting to the original bytes is a change too (raw holds the edited copy).
    original = lake.storage.read_bytes(landing_path("flights", "2013-02-01"))
    lake.storage.write_bytes(landing_path("flights", "2013-02-02"), original)
    (revert,) = ticker.tick()
    assert revert.partition_key == "2013-02-02" and revert.run_key != again.run_key


def test_cursor_bounds_listing_to_the_lookback_window(lake: Lake, instance: dg.DagsterInstance) -> None:
    settings = AutomationSettings(lookback_days=3)
    ticker = Ticker(lake, instance, settings)
    days = [(date(2013, 3, 1) + timedelta(days=i)).isoformat() for i in range(12)]
    for day in days:  # the sensor never parses content, so tiny files do
        lake.storage.write_bytes(landing_path("flights", day), f"flights {day}\n".encode())
    lake.storage.write_bytes("landing/flights/notes.txt", b"not a day file")

    (request,) = ticker.tick()
    assert (request.tags[RANGE_START_TAG], request.tags["dagster/asset_partition_range_end"]) == (
        days[0],
        days[-1],
    )
    cursor = LandingCursor.parse(ticker.cursor)
    assert cursor.high_water["flights"] == days[-1]
    assert sorted(cursor.files["flights"]) == [f"{d}.csv" for d in days[-4:]]  # the window only

    area = LandingArea(lake.storage, lake.resource.settings())
    listed = area.list_folder("landing/flights", f"landing/flights/{days[-4]}")
    assert [f.path.rsplit("/", 1)[1] for f in listed] == [f"{d}.csv" for d in days[-4:]]
    # The stray was moved aside with its reason, not left to be listed every tick.
    assert lake.storage.exists("landing/_rejected/flights/notes.txt")
    assert lake.storage.exists("landing/_rejected/flights/notes.txt.reason.json")

    # A correction inside the window is seen; one older than the window is not re-read.
    lake.storage.write_bytes(landing_path("flights", days[-2]), b"corrected\n")
    lake.storage.write_bytes(landing_path("flights", days[1]), b"corrected too late\n")
    (late,) = ticker.tick()
    assert late.partition_key == days[-2]
    assert ticker.tick() == []


def test_runs_group_consecutive_days_with_the_same_datasets() -> None:
    datasets = {d.name: d for d in landing_datasets(build_definitions().assets)}
    from platform_assets.automation.landing_scan import LandedChange

    def change(name: str, day: str | None) -> LandedChange:
        path = landing_path(name, day)
        return LandedChange(datasets[name], day, path, f"sha256:{path}", None)

    changes = [
        change("flights", "2013-05-01"),
        change("weather", "2013-05-01"),
        change("flights", "2013-05-02"),
        change("weather", "2013-05-02"),
        change("flights", "2013-05-03"),  # weather missing: a different asset set
        change("flights", "2013-05-05"),  # a gap
        change("flights", "2013-05-06"),
        change("flights", "2013-05-07"),
        change("planes", None),
    ]
    requests = plan_runs(changes, max_days_per_run=2)
    shapes = [
        (
            r.partition_key or (r.tags.get(RANGE_START_TAG), r.tags.get("dagster/asset_partition_range_end")),
            sorted(k.path[1] for k in r.asset_selection or []),
        )
        for r in requests
    ]
    assert shapes == [
        ((None, None), ["planes"]),
        (("2013-05-01", "2013-05-02"), ["flights", "weather"]),
        ("2013-05-03", ["flights"]),
        (("2013-05-05", "2013-05-06"), ["flights"]),
        ("2013-05-07", ["flights"]),
    ]
    assert len({r.run_key for r in requests}) == len(requests)
    assert plan_runs(list(reversed(changes)), 2)[1].run_key == requests[1].run_key  # order-free keys


def test_cursor_round_trips_and_an_unreadable_one_starts_over() -> None:
    cursor = LandingCursor(
        high_water={"flights": "2013-02-02"},
        files={"flights": {"2013-02-02.csv": ["10:1", "sha256:ab"]}},
        unmovable={"flights": ["landing/flights/notes.txt"]},
        pending={"flights": {"2013-02-03.csv": "5:2"}},
        swept={"flights": 12.5},
    )
    assert LandingCursor.parse(cursor.dumps()) == cursor
    for unreadable in (None, "", "not json", '{"format": 99}'):
        assert LandingCursor.parse(unreadable) == LandingCursor()
