"""A synthetic multi-year flights history built from the real 2013, landed as daily files.

Each target day takes the 2013 day with the same ISO week and weekday (so Mondays
stay Mondays and the summer peak stays in summer; week 53 and the days outside
2013's weeks take the nearest 2013 week), keeps a share of its flights that grows
by year (older years are lighter: volume varies smoothly, as a real history does,
so the volume checks against recent history still hold), rewrites year, month and
day, and recomputes `time_hour` from the local hour in New York for the target day
(clock changes fall on different dates each year; hours that do not exist on a
spring-forward night are dropped, as a station would not report them). Leap days
come from the same rule. 2013 itself is the real year, unchanged, so the synthetic
history and the real year agree on every 2013 day. The reference tables (airlines,
airports, planes) land as they are: the registry is a snapshot, as in the source.

    .venv/bin/python benchmarks/synthetic_history.py LAKE --start 2004-01-01 --end 2013-12-31
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd

from platform_assets.domains.flights import source
from platform_assets.lake.landing import land_file, landing_path
from platform_assets.lake.storage import LakeStorage

REAL_YEAR = 2013
LOCAL_ZONE = "America/New_York"


def source_day(day: date) -> date:
    """The 2013 day whose ISO week and weekday match `day`'s (clamped into 2013)."""
    if day.year == REAL_YEAR:
        return day
    iso = day.isocalendar()
    mapped = date.fromisocalendar(REAL_YEAR, min(iso.week, 52), iso.weekday)
    return min(max(mapped, date(REAL_YEAR, 1, 1)), date(REAL_YEAR, 12, 31))


def volume_share(day: date) -> float:
    """Share of the source day's flights kept: 2013 whole, each earlier year 2% lighter."""
    return 1.0 if day.year >= REAL_YEAR else max(0.5, 1.0 - 0.02 * (REAL_YEAR - day.year))


def _by_day(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    keys = pd.to_datetime(frame[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")
    return {key: part for key, part in frame.groupby(keys, sort=False)}


def _retime(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """`frame` moved to `day`: calendar columns and the UTC `time_hour` of its local hour."""
    out = frame.copy()
    out["year"], out["month"], out["day"] = day.year, day.month, day.day
    local = pd.Timestamp(day) + pd.to_timedelta(out["hour"].astype("int64"), unit="h")
    instants = local.dt.tz_localize(LOCAL_ZONE, ambiguous=np.ones(len(out), dtype=bool), nonexistent="NaT")
    out = out[instants.notna().to_numpy()]
    out["time_hour"] = instants.dropna().dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()
    return out


def land_history(storage: LakeStorage, start: date, end: date, seed: int = 2013) -> dict[str, int]:
    """Land the reference tables and every day of [start, end] of the synthetic history."""
    flights, weather = _by_day(source._table("flights")), _by_day(source._table("weather"))
    empty = {"flights": source._table("flights").iloc[0:0], "weather": source._table("weather").iloc[0:0]}
    counts = {"days": 0, "flights": 0}
    for name in source.REFERENCE_DATASETS:
        land_file(storage, landing_path(name), source._csv(source._table(name)))
    day = start
    while day <= end:
        src = source_day(day).isoformat()
        rng = np.random.default_rng([seed, day.toordinal()])
        for dataset, by_day in (("flights", flights), ("weather", weather)):
            frame = by_day.get(src, empty[dataset])
            if day.year != REAL_YEAR:
                if dataset == "flights" and len(frame):
                    keep = rng.random(len(frame)) < volume_share(day)
                    frame = frame[keep]
                frame = _retime(frame, day)
            if dataset == "flights":
                counts["flights"] += len(frame)
            land_file(storage, landing_path(dataset, day.isoformat()), source._csv(frame))
        counts["days"] += 1
        day += timedelta(days=1)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("lake")
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    args = parser.parse_args()
    print(land_history(LakeStorage.from_url(args.lake), args.start, args.end))
    return 0


if __name__ == "__main__":
    sys.exit(main())
