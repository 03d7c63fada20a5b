"""Pure transformations from landed CSV bytes to the curated flight-operations tables.

Kept free of Dagster so they can be unit tested on single days and reused by the
benchmark. Times in the source are local `hhmm` integers: departures at the
origin's clock, arrivals at the destination's; `2400` means midnight at the end
of the day, and delays and arrivals cross midnight.

The transformations never drop or reject a row and never raise on a bad value:
they keep the landed file's row index and leave what they cannot compute null, so
screening against the curated contract (`quality.quarantine.screen`) sees every
row and can say which rule each broken one breaks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from platform_assets.quality import landed

LandedFileError = landed.LandedFileError

ORIGIN_TIMEZONE = "America/New_York"  # all three origins are New York airports
TIME_UNIT = "datetime64[us, UTC]"
# Delays beyond this many minutes cannot be turned into instants without overflow; the
# contract rejects far smaller ones, so they are simply left without a departure instant.
UNREPRESENTABLE_DELAY_MIN = 100_000


def _minutes(hhmm: pd.Series) -> pd.Series:
    """Minutes after local midnight; `2400` becomes 1440, the next midnight; null if not a clock time."""
    values = hhmm.astype("Float64")
    valid = (values >= 0) & (values <= 2400) & (values % 100 < 60)
    return ((values // 100) * 60 + values % 100).where(valid)


def _localize(naive: pd.Series, zones: pd.Series, *, first: bool = True) -> pd.Series:
    """Local wall-clock times, each in its own zone, as UTC instants.

    A wall time that occurred twice (clocks going back) is its first occurrence, or its
    second with `first=False`. A wall time that never occurred (clocks going forward)
    is read with the offset in force before the gap: the source computes such times by
    adding a delay to a schedule on a clock that did not jump, so that is where the
    delay puts it (02:03 on a spring-forward night is 03:03 daylight time)."""
    out = pd.Series(pd.NaT, index=naive.index, dtype=TIME_UNIT)
    for zone, index in naive.groupby(zones, sort=False).groups.items():
        part = naive.loc[index]
        occurrence = np.full(len(part), first, dtype=bool)  # True: the daylight-time (earlier) reading
        localized = part.dt.tz_localize(zone, ambiguous=occurrence, nonexistent="NaT")
        gap = localized.isna() & part.notna()
        if gap.any():
            day_before = (part[gap] - pd.Timedelta(days=1)).dt.tz_localize(zone, nonexistent="NaT")
            offset = day_before.dt.tz_localize(None) - day_before.dt.tz_convert("UTC").dt.tz_localize(None)
            localized = localized.dt.tz_convert("UTC")
            localized.loc[gap] = (part[gap] - offset).dt.tz_localize("UTC")
        out.loc[index] = localized.dt.tz_convert("UTC").astype(TIME_UNIT)
    return out


def _local_midnight(instants: pd.Series, zones: pd.Series) -> pd.Series:
    """The local calendar day (as naive midnight) of each instant in its zone."""
    out = pd.Series(pd.NaT, index=instants.index, dtype="datetime64[us]")
    for zone, index in instants.groupby(zones, sort=False).groups.items():
        local = instants.loc[index].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
        out.loc[index] = local.astype("datetime64[us]")
    return out


def _arrival(after: pd.Series, hhmm: pd.Series, zones: pd.Series) -> pd.Series:
    """The first instant at or after `after` whose local `hhmm` at the destination matches.

    Arrivals are given only as a clock time; the day is whichever keeps the arrival
    after the departure (overnight and red-eye flights land the next day)."""
    valid = after.notna() & hhmm.notna()
    result = pd.Series(pd.NaT, index=after.index, dtype=TIME_UNIT)
    if not valid.any():
        return result
    after, hhmm, zones = after[valid], hhmm[valid], zones[valid]
    minutes = pd.to_timedelta(_minutes(hhmm).astype("float64"), unit="min")
    base = _local_midnight(after, zones)
    candidate = _localize(base + minutes, zones)
    early = candidate < after
    if early.any():  # a wall time that occurred twice: its second occurrence may still be after
        candidate.loc[early] = _localize(base[early] + minutes[early], zones[early], first=False)
        early = candidate < after
    if early.any():
        later = base[early] + pd.Timedelta(days=1) + minutes[early]
        candidate.loc[early] = _localize(later, zones[early])
    result.loc[candidate.index] = candidate
    return result


def flight_ids(frame: pd.DataFrame) -> pd.Series:
    """A stable, readable key: day, carrier and flight number, origin, scheduled departure."""
    return (
        frame["date"]
        + "_"
        + frame["carrier"]
        + frame["flight"].astype(str)
        + "_"
        + frame["origin"]
        + "_"
        + frame["sched_dep_time"].astype(str).str.zfill(4)
    )


def day_keys(frame: pd.DataFrame) -> pd.Series:
    """`YYYY-MM-DD` from year, month and day columns; null where they do not name a real day."""
    text = (
        frame["year"].astype(str)
        + "-"
        + frame["month"].astype(str).str.zfill(2)
        + "-"
        + frame["day"].astype(str).str.zfill(2)
    )
    days = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    return days.dt.strftime("%Y-%m-%d").astype("str")


def _instants(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce").astype(TIME_UNIT)


def destinations_without_timezone(frame: pd.DataFrame, timezones: Mapping[str, str]) -> pd.Series:
    """Rows whose destination has no known time zone: their arrival cannot be placed in time."""
    known = set(timezones)  # a set lookup: `isin` on Arrow-backed strings is far slower
    return pd.Series([dest not in known for dest in frame["dest"].to_numpy(dtype=object)], index=frame.index)


def curate_flights(raw: pd.DataFrame, timezones: Mapping[str, str]) -> pd.DataFrame:
    """Typed flights with UTC times, a stable id, `cancelled` and `diverted` flags.

    `timezones` maps airport code to IANA zone; a destination missing from it leaves the
    row's arrival instants null. The result keeps `raw`'s index (the landed row)."""
    frame = raw.copy()
    frame["date"] = day_keys(frame)
    frame["flight_id"] = flight_ids(frame)
    origin_zone = pd.Series(ORIGIN_TIMEZONE, index=frame.index)
    dest_zone = frame["dest"].map(dict(timezones))

    midnight = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="coerce").astype("datetime64[us]")
    sched_dep_local = midnight + pd.to_timedelta(
        _minutes(frame["sched_dep_time"]).astype("float64"), unit="min"
    )
    frame["sched_dep_utc"] = _localize(sched_dep_local, origin_zone)
    minutes = frame["dep_delay"].astype("float64")
    delay = pd.to_timedelta(minutes.where(minutes.abs() < UNREPRESENTABLE_DELAY_MIN), unit="min")
    frame["dep_utc"] = (frame["sched_dep_utc"] + delay).astype(TIME_UNIT)
    frame["sched_arr_utc"] = _arrival(frame["sched_dep_utc"], frame["sched_arr_time"], dest_zone)
    frame["arr_utc"] = _arrival(frame["dep_utc"], frame["arr_time"], dest_zone)
    frame["time_hour"] = _instants(frame["time_hour"])
    frame["cancelled"] = frame["dep_time"].isna()
    frame["diverted"] = ~frame["cancelled"] & frame["arr_delay"].isna()

    columns = [
        "flight_id", "date", "carrier", "flight", "tailnum", "origin", "dest",
        "sched_dep_time", "dep_time", "sched_arr_time", "arr_time",
        "dep_delay", "arr_delay", "air_time", "distance",
        "sched_dep_utc", "dep_utc", "sched_arr_utc", "arr_utc", "time_hour",
        "cancelled", "diverted",
    ]  # fmt: skip
    return frame[columns].sort_values(["sched_dep_utc", "flight_id"], kind="stable")


def curate_weather(raw: pd.DataFrame) -> pd.DataFrame:
    """Hourly weather per origin with the hour as a UTC instant; keeps `raw`'s index."""
    frame = raw.copy()
    frame["date"] = day_keys(frame)
    frame["time_hour"] = _instants(frame["time_hour"])
    columns = [
        "origin", "date", "time_hour", "hour", "temp", "dewp", "humid", "wind_dir",
        "wind_speed", "wind_gust", "precip", "pressure", "visib",
    ]  # fmt: skip
    return frame[columns].sort_values(["origin", "time_hour"], kind="stable")


REFERENCE_KEYS = {"airlines": "carrier", "airports": "faa", "planes": "tailnum"}


def curate_reference(name: str, raw: pd.DataFrame) -> pd.DataFrame:
    """A reference table sorted by its key; duplicates are left for screening to quarantine."""
    return raw.sort_values(REFERENCE_KEYS[name], kind="stable")


def timezone_map(airports: pd.DataFrame, supplement: Mapping[str, str]) -> dict[str, str]:
    known = airports.dropna(subset=["tzone"])
    return {**supplement, **dict(zip(known["faa"], known["tzone"], strict=True))}
