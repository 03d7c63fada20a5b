"""One landing run per day through every zone, only when what it reads is there.

The flights graph as it is defined: which curated and serving assets a day's landing
run carries depends on the reference tables and the day's other dataset being
published; a parent with other partitions (the weekly model) keeps its child out."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pytest

from platform_assets.automation.config import AutomationConfigError, AutomationSettings
from platform_assets.automation.landing_through import THROUGH_ZONES_TAG, through_zones, zone_plan
from platform_assets.definitions import build_definitions
from platform_assets_tests.conftest import Lake, local_lake

DAY, NEXT = "2013-02-01", "2013-02-02"
RAW_FLIGHTS, RAW_WEATHER = dg.AssetKey(["raw", "flights"]), dg.AssetKey(["raw", "weather"])
CURATED_FLIGHTS, CURATED_WEATHER = dg.AssetKey(["curated", "flights"]), dg.AssetKey(["curated", "weather"])
SERVING = [dg.AssetKey(["serving", n]) for n in ("carrier_daily_performance", "route_daily")]
FEATURES = dg.AssetKey(["serving", "flight_delay_features"])
SCORES = dg.AssetKey(["serving", "delay_scores"])


def _publish(lake: Lake, key: dg.AssetKey, partition: str | None) -> None:
    store = lake.versions
    manifest = store.write_table(key.path, partition, pa.table({"x": [1]}), run_id="0123456789-test")
    store.publish(key.path, partition, manifest["version"])


def _request(keys: list[dg.AssetKey], days: list[str]) -> dg.RunRequest:
    if len(days) == 1:
        return dg.RunRequest(run_key="k", asset_selection=keys, partition_key=days[0], tags={"zone": "raw"})
    tags = {
        "zone": "raw",
        "dagster/asset_partition_range_start": days[0],
        "dagster/asset_partition_range_end": days[-1],
    }
    return dg.RunRequest(run_key="k", asset_selection=keys, tags=tags)


def test_a_day_runs_through_every_zone_its_parents_allow(tmp_path) -> None:
    lake = local_lake(tmp_path)
    defs = build_definitions(lake.resource)
    plan = zone_plan(defs.assets or [])
    both = _request([RAW_FLIGHTS, RAW_WEATHER], [DAY])

    # Reference tables never built: curated flights cannot place times, and nothing
    # downstream of it comes along; curated weather reads only the day's raw weather.
    (early,) = through_zones([both], plan, lake.versions)
    assert early.asset_selection == [RAW_FLIGHTS, RAW_WEATHER, CURATED_WEATHER]
    assert early.tags[THROUGH_ZONES_TAG] == "curated/weather"
    (unchanged,) = through_zones([_request([RAW_FLIGHTS], [DAY])], plan, lake.versions)
    assert unchanged.asset_selection == [RAW_FLIGHTS] and THROUGH_ZONES_TAG not in unchanged.tags

    for name in ("airlines", "airports", "planes"):
        _publish(lake, dg.AssetKey(["curated", name]), None)
    (day,) = through_zones([both], plan, lake.versions)
    selected = list(day.asset_selection or [])
    assert set(selected) == {RAW_FLIGHTS, RAW_WEATHER, CURATED_FLIGHTS, CURATED_WEATHER, *SERVING, FEATURES}
    assert SCORES not in selected  # it reads a weekly model: left to automation
    assert selected.index(CURATED_FLIGHTS) < selected.index(FEATURES)  # parents first
    assert day.partition_key == DAY and day.run_key == "k" and day.tags["zone"] == "raw"

    # Only flights landed: features also read the day's weather, which is not there yet.
    (flights_only,) = through_zones([_request([RAW_FLIGHTS], [DAY])], plan, lake.versions)
    assert set(flights_only.asset_selection or []) == {RAW_FLIGHTS, CURATED_FLIGHTS, *SERVING}

    # A range needs the other dataset published on every day of it.
    _publish(lake, CURATED_WEATHER, DAY)
    (one_day,) = through_zones([_request([RAW_FLIGHTS], [DAY])], plan, lake.versions)
    assert FEATURES in (one_day.asset_selection or [])
    (two_days,) = through_zones([_request([RAW_FLIGHTS], [DAY, NEXT])], plan, lake.versions)
    assert FEATURES not in (two_days.asset_selection or [])
    # Only what the landed files feed: weather's published parent does not pull it in.
    _publish(lake, RAW_WEATHER, DAY)
    (again,) = through_zones([_request([RAW_FLIGHTS], [DAY])], plan, lake.versions)
    assert CURATED_WEATHER not in (again.asset_selection or []) and FEATURES in (again.asset_selection or [])

    # Reference-table runs are left alone.
    reference = dg.RunRequest(run_key="r", asset_selection=[dg.AssetKey(["raw", "airports"])])
    assert through_zones([reference], plan, lake.versions) == [reference]


def test_the_landing_sensor_can_target_what_it_requests_and_the_key_is_enforced(tmp_path) -> None:
    lake = local_lake(tmp_path)
    defs = build_definitions(lake.resource)
    assert SCORES not in zone_plan(defs.assets or []).order

    def targeted(definitions: dg.Definitions) -> set[dg.AssetKey]:
        """What the daemon lets the landing sensor's run requests select (its jobs, one per calendar)."""
        sensor = definitions.resolve_sensor_def("landing_sensor")
        jobs = [definitions.resolve_job_def(target.job_name) for target in sensor.targets]
        return {key for job in jobs for key in job.asset_layer.executable_asset_keys}

    assert {RAW_FLIGHTS, CURATED_FLIGHTS, *SERVING, FEATURES} <= targeted(defs)
    settings = AutomationSettings.from_mapping({"landing": {"through_zones": False}})
    assert CURATED_FLIGHTS not in targeted(build_definitions(lake.resource, settings))
    with pytest.raises(AutomationConfigError, match="through_zones must be true or false"):
        AutomationSettings.from_mapping({"landing": {"through_zones": "false"}})


def test_with_per_zone_identities_a_landing_run_writes_raw_only(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where each zone's runs act as that zone's writer (staging and prod), a run that
    also wrote curated and serving would need the raw writer to write them: the landing
    run stays in raw, and automation builds the rest in runs of their own zones."""
    from platform_assets.automation.landing_sensor import LANDING_SENSOR_NAME, per_zone_identities
    from platform_assets_tests.pipeline import land_days

    lake = local_lake(tmp_path)
    land_days(lake, DAY, DAY)
    for name in ("airlines", "airports", "planes"):
        _publish(lake, dg.AssetKey(["curated", name]), None)
    sensor = build_definitions(lake.resource).resolve_sensor_def(LANDING_SENSOR_NAME)

    def day_run() -> set[dg.AssetKey]:
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(instance=instance, resources={"lake": lake.resource})
            result = sensor(context)
        (day,) = [r for r in result.run_requests or [] if r.partition_key == DAY]
        return set(day.asset_selection or [])

    assert not per_zone_identities("dev")
    assert day_run() >= {CURATED_FLIGHTS, *SERVING}
    monkeypatch.setenv("PLATFORM_IDENTITY_PROFILE", "platform-{identity}")
    assert per_zone_identities("dev") and per_zone_identities("prod")
    assert day_run() == {RAW_FLIGHTS, RAW_WEATHER}
