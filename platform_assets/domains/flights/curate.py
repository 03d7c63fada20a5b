"""Pure transformations from landed CSV bytes to the curated flight-operations tables.

Kept free of Dagster so they can be unit tested on single days and reused by the
benchmark. Times in the source are local `hhmm` integers: departures at the
origin's clock, arrivals at the destination's; `2400` means midnight at the end
of the day, and delays and arrivals cross midnight."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd

ORIGIN_TIMEZONE = "America/New_York"  # all three origins are New York airports
TIME_UNIT = "datetime64[us, UTC]"


class LandedFileError(ValueError):
    """A landed file that cannot be read as its source promises."""


RAW_FLIGHTS_COLUMNS: dict[str, str] = {
    "year": "Int64",
    "month": "Int64",
    "day": "Int64",
    "dep_time": "Int64",
    "sched_dep_time": "Int64",
    "dep_delay": "Float64",
    "arr_time": "Int64",
    "sched_arr_time": "Int64",
    "arr_delay": "Float64",
    "carrier": "str",
    "flight": "Int64",
    "tailnum": "str",
    "origin": "str",
    "dest": "str",
    "air_time": "Float64",
    "distance": "Int64",
    "hour": "Int64",
    "minute": "Int64",
    "time_hour": "str",
}

RAW_WEATHER_COLUMNS: dict[str, str] = {
    "origin": "str",
    "year": "Int64",
    "month": "Int64",
    "day": "Int64",
    "hour": "Int64",
    "temp": "Float64",
    "dewp": "Float64",
    "humid": "Float64",
    "wind_dir": "Float64",
    "wind_speed": "Float64",
    "wind_gust": "Float64",
    "precip": "Float64",
    "pressure": "Float64",
    "visib": "Float64",
    "time_hour": "str",
}

RAW_REFERENCE_COLUMNS: dict[str, dict[str, str]] = {
    "airlines": {"carrier": "str", "name": "str"},
    "airports": {
        "faa": "str",
        "name": "str",
        "lat": "Float64",
        "lon": "Float64",
        "alt": "Int64",
        "tz": "Int64",
        "dst": "str",
        "tzone": "str",
    },
    "planes": {
        "tailnum": "str",
        "year": "Int64",
        "type": "str",
        "manufacturer": "str",
        "model": "str",
        "engines": "Int64",
        "seats": "Int64",
        "speed": "Float64",
        "engine": "str",
    },
}


def read_landed_csv(data: bytes, columns: Mapping[str, str], source: str) -> pd.DataFrame:
    """Parse a landed CSV into the declared column types, or say precisely why not."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LandedFileError(f"{source}: not UTF-8 text ({error})") from None
    if not text.strip():
        raise LandedFileError(f"{source}: the file is empty (no header row)")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype="str", keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, ValueError) as error:
        raise LandedFileError(f"{source}: not a well-formed CSV ({error})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LandedFileError(f"{source}: missing column(s) {missing}")
    extra = [c for c in frame.columns if c not in columns]
    if extra:
        raise LandedFileError(f"{source}: unexpected column(s) {extra}")
    typed = {}
    for column, dtype in columns.items():
        values = frame[column]
        if dtype == "str":
            typed[column] = values.astype("str").where(values.notna(), None)
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & numbers.isna()
        if bad.any():
            example = values[bad].iloc[0]
            raise LandedFileError(
                f"{source}: column {column!r} should be numeric but has {int(bad.sum())} "
                f"non-numeric value(s), e.g. {example!r} on data row {int(bad.idxmax()) + 1}"
            )
        if dtype == "Int64" and ((numbers.dropna() % 1) != 0).any():
            raise LandedFileError(f"{source}: column {column!r} should hold whole numbers")
        typed[column] = numbers.astype(dtype)
    return pd.DataFrame(typed, index=frame.index)


def _minutes(hhmm: pd.Series) -> pd.Series:
    """Minutes after local midnight; `2400` becomes 1440, the next midnight."""
    values = hhmm.astype("Float64")
    return (values // 100) * 60 + values % 100


def _localize(naive: pd.Series, zones: pd.Series) -> pd.Series:
    """Local wall-clock times, each in its own zone, as UTC instants.

    Ambiguous and missing wall times (DST changes) resolve to standard time and
    shift forward, deterministically, rather than becoming nulls."""
    out = pd.Series(pd.NaT, index=naive.index, dtype=TIME_UNIT)
    for zone, index in naive.groupby(zones, sort=False).groups.items():
        part = naive.loc[index]
        ambiguous = np.zeros(len(part), dtype=bool)
        localized = part.dt.tz_localize(zone, ambiguous=ambiguous, nonexistent="shift_forward")
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
    return (
        frame["year"].astype(str)
        + "-"
        + frame["month"].astype(str).str.zfill(2)
        + "-"
        + frame["day"].astype(str).str.zfill(2)
    )


def curate_flights(raw: pd.DataFrame, timezones: Mapping[str, str]) -> pd.DataFrame:
    """Typed flights with UTC times, a stable id, `cancelled` and `diverted` flags.

    `timezones` maps airport code to IANA zone for every destination."""
    frame = raw.drop_duplicates().copy()
    frame["date"] = day_keys(frame)
    frame["flight_id"] = flight_ids(frame)
    frame = frame.drop_duplicates(subset="flight_id", keep="first")

    unknown = sorted(set(frame["dest"]) - set(timezones))
    if unknown:
        raise LandedFileError(f"no time zone known for destination airport(s) {unknown}")
    origin_zone = pd.Series(ORIGIN_TIMEZONE, index=frame.index)
    dest_zone = frame["dest"].map(timezones)

    midnight = pd.to_datetime(frame["date"]).astype("datetime64[us]")
    sched_dep_local = midnight + pd.to_timedelta(
        _minutes(frame["sched_dep_time"]).astype("float64"), unit="min"
    )
    frame["sched_dep_utc"] = _localize(sched_dep_local, origin_zone)
    delay = pd.to_timedelta(frame["dep_delay"].astype("float64"), unit="min")
    frame["dep_utc"] = (frame["sched_dep_utc"] + delay).astype(TIME_UNIT)
    frame["sched_arr_utc"] = _arrival(frame["sched_dep_utc"], frame["sched_arr_time"], dest_zone)
    frame["arr_utc"] = _arrival(frame["dep_utc"], frame["arr_time"], dest_zone)
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True).astype(TIME_UNIT)
    frame["cancelled"] = frame["dep_time"].isna()
    frame["diverted"] = ~frame["cancelled"] & frame["arr_delay"].isna()

    columns = [
        "flight_id", "date", "carrier", "flight", "tailnum", "origin", "dest",
        "sched_dep_time", "dep_time", "sched_arr_time", "arr_time",
        "dep_delay", "arr_delay", "air_time", "distance",
        "sched_dep_utc", "dep_utc", "sched_arr_utc", "arr_utc", "time_hour",
        "cancelled", "diverted",
    ]  # fmt: skip
    out = frame[columns].sort_values(["sched_dep_utc", "flight_id"], kind="stable")
    return out.reset_index(drop=True)


def curate_weather(raw: pd.DataFrame) -> pd.DataFrame:
    """Hourly weather per origin with a UTC hour; one row per origin and hour."""
    frame = raw.drop_duplicates().copy()
    frame["date"] = day_keys(frame)
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True).astype(TIME_UNIT)
    frame = frame.drop_duplicates(subset=["origin", "time_hour"], keep="first")
    columns = [
        "origin", "date", "time_hour", "hour", "temp", "dewp", "humid", "wind_dir",
        "wind_speed", "wind_gust", "precip", "pressure", "visib",
    ]  # fmt: skip
    return frame[columns].sort_values(["origin", "time_hour"]).reset_index(drop=True)


REFERENCE_KEYS = {"airlines": "carrier", "airports": "faa", "planes": "tailnum"}


def curate_reference(name: str, raw: pd.DataFrame) -> pd.DataFrame:
    """A reference table with one row per key."""
    key = REFERENCE_KEYS[name]
    frame = raw.drop_duplicates().drop_duplicates(subset=key, keep="first")
    return frame.sort_values(key).reset_index(drop=True)


def timezone_map(airports: pd.DataFrame, supplement: Mapping[str, str]) -> dict[str, str]:
    known = airports.dropna(subset=["tzone"])
    return {**supplement, **dict(zip(known["faa"], known["tzone"], strict=True))}
