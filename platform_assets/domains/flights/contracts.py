"""Contracts of the flights domain: what each raw, curated and serving table promises.

Raw contracts state only what the source promises about its files: the columns, and
that each value reads as its type. Everything is nullable there because a row-level
defect is for the curated layer to quarantine, not a reason to refuse a whole file.

Curated and serving contracts state what readers may rely on. Bounds are chosen to
admit every real 2013 record and refuse the physically impossible; each constant
says why it is where it is. Cross-column rules name the columns they read
(`statistics={"columns": [...]}`) so a failure shows just those values.

`CONTRACTS` maps each asset key to its contract; nothing else in the domain
declares columns.

Classification. Everything here comes from public US sources (BTS on-time data, the
FAA registry, NOAA weather), so columns are `public` by default. The exception is a
tail number on a flight record: registrations are public on their own (curated
planes), but joined to departure times and routes they track one aircraft's
movements, which owners may ask the FAA to block (the LADD programme). Such columns
are `internal`; computed columns name the inputs they are made from
(`derived_from`) so the lineage rule can tell they do not carry the tail number."""

from __future__ import annotations

from zoneinfo import available_timezones

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from platform_assets.governance.classification import classified, contract_default, declassified
from platform_assets.quality.contracts import COLUMNS_STATISTIC

NYC_ORIGINS = ["EWR", "JFK", "LGA"]
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
CARRIER_PATTERN = r"^[A-Z0-9]{2}$"
AIRPORT_PATTERN = r"^[A-Z]{3}$"  # IATA codes, as flights use them
FAA_PATTERN = r"^[A-Z0-9]{3,4}$"  # FAA location ids include digits (04G)
TAILNUM_PATTERN = r"^[A-Z0-9]{2,7}$"  # registration marks: N-numbers and foreign marks (D942DN)
FLIGHT_ID_PATTERN = r"^\d{4}-\d{2}-\d{2}_[A-Z0-9]{2}\d{1,4}_[A-Z]{3}_\d{4}$"
# Earliest departures in 2013 are 43 minutes early; two hours early is a wrong clock.
EARLIEST_DELAY_MIN = -120
# Arrivals beat schedules by up to 86 minutes (padded schedules, tail winds).
EARLIEST_ARRIVAL_DELAY_MIN = -180
# The longest delays in 2013 are under 22 hours; a day later it is a different flight.
LATEST_DELAY_MIN = 1440
LONGEST_AIR_TIME_MIN = 1200  # 20 hours: longer than any nonstop airliner flies
LONGEST_DISTANCE_MILES = 10_000  # JFK-HNL, the longest route, is 4,983
PLANE_TYPES = ["Fixed wing multi engine", "Fixed wing single engine", "Rotorcraft"]
ENGINE_TYPES = ["4 Cycle", "Reciprocating", "Turbo-fan", "Turbo-jet", "Turbo-prop", "Turbo-shaft"]


def _hhmm(series: pd.Series, latest: int) -> pd.Series:
    """Clock times as hhmm: minutes under 60, `2400` allowed where the source uses it for midnight."""
    return (series % 100 < 60) & (series >= 0) & (series <= latest)


def _delay(earliest: int = EARLIEST_DELAY_MIN, **kwargs: object) -> object:
    return pa.Field(nullable=True, ge=earliest, le=LATEST_DELAY_MIN, **kwargs)


class _PublicSources(pa.DataFrameModel):
    """Columns are public unless they say otherwise (see the module docstring)."""

    class Config:
        metadata = contract_default("public")


class _RawFile(_PublicSources):
    class Config:
        strict = True  # an extra column is schema drift, reported by name
        coerce = True  # values arrive as text; coercion failures are reported by row


class RawFlights(_RawFile):
    year: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    month: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    day: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    dep_time: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    sched_dep_time: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    dep_delay: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    arr_time: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    sched_arr_time: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    arr_delay: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    carrier: Series[str] = pa.Field(nullable=True)
    flight: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    tailnum: Series[str] = pa.Field(nullable=True, metadata=classified("internal"))
    origin: Series[str] = pa.Field(nullable=True)
    dest: Series[str] = pa.Field(nullable=True)
    air_time: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    distance: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    hour: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    minute: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    time_hour: Series[str] = pa.Field(nullable=True)


class RawWeather(_RawFile):
    origin: Series[str] = pa.Field(nullable=True)
    year: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    month: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    day: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    hour: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    temp: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    dewp: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    humid: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    wind_dir: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    wind_speed: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    wind_gust: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    precip: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    pressure: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    visib: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    time_hour: Series[str] = pa.Field(nullable=True)


class RawAirlines(_RawFile):
    carrier: Series[str] = pa.Field(nullable=True)
    name: Series[str] = pa.Field(nullable=True)


class RawAirports(_RawFile):
    faa: Series[str] = pa.Field(nullable=True)
    name: Series[str] = pa.Field(nullable=True)
    lat: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    lon: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    alt: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    tz: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    dst: Series[str] = pa.Field(nullable=True)
    tzone: Series[str] = pa.Field(nullable=True)


class RawPlanes(_RawFile):
    tailnum: Series[str] = pa.Field(nullable=True)
    year: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    type: Series[str] = pa.Field(nullable=True)
    manufacturer: Series[str] = pa.Field(nullable=True)
    model: Series[str] = pa.Field(nullable=True)
    engines: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    seats: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    speed: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    engine: Series[str] = pa.Field(nullable=True)


UTC_US = {"unit": "us", "tz": "UTC"}


_DAY = ["year", "month", "day"]
_SCHEDULED_DEPARTURE = [*_DAY, "sched_dep_time", "origin", "airports.faa", "airports.tzone"]


class CuratedFlights(_PublicSources):
    flight_id: Series[str] = pa.Field(
        unique=True,
        str_matches=FLIGHT_ID_PATTERN,
        description="date_carrier+flight_origin_scheduled hhmm",
        metadata=classified("public", derived_from=[*_DAY, "carrier", "flight", "origin", "sched_dep_time"]),
    )
    date: Series[str] = pa.Field(
        str_matches=DATE_PATTERN,
        description="local day of scheduled departure",
        metadata=classified("public", derived_from=_DAY),
    )
    carrier: Series[str] = pa.Field(str_matches=CARRIER_PATTERN)
    flight: Series[pd.Int64Dtype] = pa.Field(ge=1, le=9999)
    tailnum: Series[str] = pa.Field(
        nullable=True, str_matches=TAILNUM_PATTERN, metadata=classified("internal")
    )
    origin: Series[str] = pa.Field(isin=NYC_ORIGINS)
    dest: Series[str] = pa.Field(str_matches=AIRPORT_PATTERN)
    sched_dep_time: Series[pd.Int64Dtype] = pa.Field(description="local hhmm at the origin")
    dep_time: Series[pd.Int64Dtype] = pa.Field(nullable=True, description="local hhmm; null: cancelled")
    sched_arr_time: Series[pd.Int64Dtype] = pa.Field(description="local hhmm at the destination")
    arr_time: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    dep_delay: Series[pd.Float64Dtype] = _delay(description="minutes")
    arr_delay: Series[pd.Float64Dtype] = _delay(EARLIEST_ARRIVAL_DELAY_MIN, description="minutes")
    air_time: Series[pd.Float64Dtype] = pa.Field(nullable=True, gt=0, le=LONGEST_AIR_TIME_MIN)
    distance: Series[pd.Int64Dtype] = pa.Field(gt=0, le=LONGEST_DISTANCE_MILES, description="miles")
    sched_dep_utc: Series[pd.DatetimeTZDtype] = pa.Field(
        dtype_kwargs=UTC_US, metadata=classified("public", derived_from=_SCHEDULED_DEPARTURE)
    )
    dep_utc: Series[pd.DatetimeTZDtype] = pa.Field(
        nullable=True,
        dtype_kwargs=UTC_US,
        metadata=classified("public", derived_from=[*_SCHEDULED_DEPARTURE, "dep_delay"]),
    )
    sched_arr_utc: Series[pd.DatetimeTZDtype] = pa.Field(
        dtype_kwargs=UTC_US,
        metadata=classified("public", derived_from=[*_SCHEDULED_DEPARTURE, "sched_arr_time", "dest"]),
    )
    arr_utc: Series[pd.DatetimeTZDtype] = pa.Field(
        nullable=True,
        dtype_kwargs=UTC_US,
        metadata=classified("public", derived_from=[*_SCHEDULED_DEPARTURE, "dep_delay", "arr_time", "dest"]),
    )
    time_hour: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs=UTC_US)
    cancelled: Series[pd.BooleanDtype] = pa.Field(
        description="never departed", metadata=classified("public", derived_from=["dep_time"])
    )
    diverted: Series[pd.BooleanDtype] = pa.Field(
        description="departed, no arrival delay recorded",
        metadata=classified("public", derived_from=["dep_time", "arr_delay"]),
    )

    @pa.check("sched_dep_time", "sched_arr_time", name="valid_hhmm")
    def _scheduled_clock(cls, series: Series) -> Series[bool]:
        return _hhmm(series, 2359)

    @pa.check("dep_time", "arr_time", name="valid_hhmm_or_2400")
    def _actual_clock(cls, series: Series) -> Series[bool]:
        return _hhmm(series, 2400)

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["cancelled", "dep_time"]})
    def cancelled_iff_no_departure(cls, df: pd.DataFrame) -> Series[bool]:
        """`cancelled` exactly when there is no departure time."""
        return df["cancelled"].fillna(False) == df["dep_time"].isna()

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["dep_time", "dep_delay"]})
    def delay_iff_departure(cls, df: pd.DataFrame) -> Series[bool]:
        """A departure delay exactly when there is a departure time."""
        return df["dep_delay"].isna() == df["dep_time"].isna()

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["cancelled", "diverted"]})
    def cancelled_or_diverted_not_both(cls, df: pd.DataFrame) -> Series[bool]:
        """A flight that never left cannot have been diverted."""
        return ~(df["cancelled"].fillna(False) & df["diverted"].fillna(False))

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["dep_utc", "arr_utc"]})
    def arrival_after_departure(cls, df: pd.DataFrame) -> Series[bool]:
        """A flown flight arrives after it departs."""
        return df["arr_utc"].isna() | df["dep_utc"].isna() | (df["arr_utc"] > df["dep_utc"])

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["sched_dep_utc", "sched_arr_utc"]})
    def scheduled_arrival_after_departure(cls, df: pd.DataFrame) -> Series[bool]:
        """The schedule has the arrival after the departure."""
        return df["sched_arr_utc"].isna() | (df["sched_arr_utc"] > df["sched_dep_utc"])

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["arr_time", "dep_time", "arr_utc", "dest"]})
    def arrival_placed_in_time(cls, df: pd.DataFrame) -> Series[bool]:
        """A flight with departure and arrival clock times has an arrival instant (its zone is known)."""
        return df["arr_time"].isna() | df["dep_time"].isna() | df["arr_utc"].notna()


class CuratedWeather(_PublicSources):
    origin: Series[str] = pa.Field(isin=NYC_ORIGINS)
    date: Series[str] = pa.Field(str_matches=DATE_PATTERN)
    time_hour: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs=UTC_US)
    hour: Series[pd.Int64Dtype] = pa.Field(ge=0, le=23, description="local hour")
    temp: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=-60, le=130, description="degrees F")
    dewp: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=-80, le=100, description="degrees F")
    humid: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=100, description="percent")
    wind_dir: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=360, description="degrees")
    wind_speed: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=150, description="mph")
    wind_gust: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=200, description="mph")
    precip: Series[pd.Float64Dtype] = pa.Field(ge=0, le=10, description="inches")
    pressure: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=870, le=1090, description="millibars")
    visib: Series[pd.Float64Dtype] = pa.Field(ge=0, le=10, description="miles")

    class Config:
        unique = ["origin", "time_hour"]


class CuratedAirlines(_PublicSources):
    carrier: Series[str] = pa.Field(unique=True, str_matches=CARRIER_PATTERN)
    name: Series[str]


class CuratedAirports(_PublicSources):
    faa: Series[str] = pa.Field(unique=True, str_matches=FAA_PATTERN)
    name: Series[str]
    lat: Series[pd.Float64Dtype] = pa.Field(ge=-90, le=90)
    lon: Series[pd.Float64Dtype] = pa.Field(ge=-180, le=180)
    alt: Series[pd.Int64Dtype] = pa.Field(ge=-1500, le=30_000, description="feet; the Dead Sea is -1,400")
    tz: Series[pd.Int64Dtype] = pa.Field(ge=-12, le=14, description="hours from UTC")
    dst: Series[str] = pa.Field(isin=["A", "U", "N"])
    tzone: Series[str] = pa.Field(nullable=True, isin=sorted(available_timezones()))


class CuratedPlanes(_PublicSources):
    tailnum: Series[str] = pa.Field(unique=True, str_matches=TAILNUM_PATTERN)
    year: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1903, le=2030, description="year built")
    type: Series[str] = pa.Field(isin=PLANE_TYPES)
    manufacturer: Series[str]
    model: Series[str]
    engines: Series[pd.Int64Dtype] = pa.Field(ge=1, le=8)
    seats: Series[pd.Int64Dtype] = pa.Field(ge=1, le=1000)
    speed: Series[pd.Float64Dtype] = pa.Field(nullable=True, gt=0, le=1000)
    engine: Series[str] = pa.Field(isin=ENGINE_TYPES)


def _counts_within_flights(df: pd.DataFrame, *columns: str) -> Series[bool]:
    total = sum((df[c].fillna(0) for c in columns), start=pd.Series(0, index=df.index))
    return total <= df["flights"]


class CarrierDailyPerformance(_PublicSources):
    date: Series[str] = pa.Field(str_matches=DATE_PATTERN)
    carrier: Series[str] = pa.Field(str_matches=CARRIER_PATTERN)
    flights: Series[pd.Int64Dtype] = pa.Field(ge=1, description="scheduled departures")
    cancelled: Series[pd.Int64Dtype] = pa.Field(ge=0)
    diverted: Series[pd.Int64Dtype] = pa.Field(ge=0)
    on_time_arrival_rate: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=1)
    mean_dep_delay_min: Series[pd.Float64Dtype] = _delay()
    p90_dep_delay_min: Series[pd.Float64Dtype] = _delay()
    mean_arr_delay_min: Series[pd.Float64Dtype] = _delay(EARLIEST_ARRIVAL_DELAY_MIN)
    p90_arr_delay_min: Series[pd.Float64Dtype] = _delay(EARLIEST_ARRIVAL_DELAY_MIN)

    class Config:
        unique = ["date", "carrier"]

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["flights", "cancelled", "diverted"]})
    def outcomes_within_flights(cls, df: pd.DataFrame) -> Series[bool]:
        """Cancelled plus diverted flights never exceed the flights scheduled."""
        return _counts_within_flights(df, "cancelled", "diverted")


class RouteDaily(_PublicSources):
    date: Series[str] = pa.Field(str_matches=DATE_PATTERN)
    origin: Series[str] = pa.Field(isin=NYC_ORIGINS)
    dest: Series[str] = pa.Field(str_matches=AIRPORT_PATTERN)
    flights: Series[pd.Int64Dtype] = pa.Field(ge=1)
    cancelled: Series[pd.Int64Dtype] = pa.Field(ge=0)
    carriers: Series[pd.Int64Dtype] = pa.Field(ge=1)
    on_time_arrival_rate: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=1)
    mean_dep_delay_min: Series[pd.Float64Dtype] = _delay()
    mean_arr_delay_min: Series[pd.Float64Dtype] = _delay(EARLIEST_ARRIVAL_DELAY_MIN)
    mean_air_time_min: Series[pd.Float64Dtype] = pa.Field(nullable=True, gt=0, le=LONGEST_AIR_TIME_MIN)
    distance_miles: Series[pd.Int64Dtype] = pa.Field(gt=0, le=LONGEST_DISTANCE_MILES)

    class Config:
        unique = ["date", "origin", "dest"]

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["flights", "cancelled", "carriers"]})
    def counts_within_flights(cls, df: pd.DataFrame) -> Series[bool]:
        """Cancellations and carriers are each at most the flights on the route."""
        return _counts_within_flights(df, "cancelled") & _counts_within_flights(df, "carriers")


class FlightDelayFeatures(_PublicSources):
    flight_id: Series[str] = pa.Field(unique=True, str_matches=FLIGHT_ID_PATTERN)
    date: Series[str] = pa.Field(str_matches=DATE_PATTERN)
    carrier: Series[str] = pa.Field(str_matches=CARRIER_PATTERN)
    origin: Series[str] = pa.Field(isin=NYC_ORIGINS)
    dest: Series[str] = pa.Field(str_matches=AIRPORT_PATTERN)
    tailnum: Series[str] = pa.Field(
        nullable=True, str_matches=TAILNUM_PATTERN, metadata=classified("internal")
    )
    sched_dep_utc: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs=UTC_US)
    sched_dep_hour_local: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=23, metadata=classified("public", derived_from=["sched_dep_time"])
    )
    day_of_week: Series[pd.Int64Dtype] = pa.Field(
        ge=1,
        le=7,
        description="ISO: Monday is 1",
        metadata=classified("public", derived_from=["flights.date"]),
    )
    month: Series[pd.Int64Dtype] = pa.Field(
        ge=1, le=12, metadata=classified("public", derived_from=["flights.date"])
    )
    distance: Series[pd.Int64Dtype] = pa.Field(gt=0, le=LONGEST_DISTANCE_MILES)
    temp: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=-60, le=130)
    dewp: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=-80, le=100)
    humid: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=100)
    wind_dir: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=360)
    wind_speed: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=150)
    wind_gust: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=200)
    precip: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=10)
    pressure: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=870, le=1090)
    visib: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0, le=10)
    has_weather: Series[pd.BooleanDtype] = pa.Field(
        description="the origin reported weather that hour",
        metadata=classified("public", derived_from=["weather.origin", "weather.time_hour"]),
    )
    plane_year: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=1903, le=2030, metadata=classified("public", derived_from=["planes.year"])
    )
    plane_type: Series[str] = pa.Field(
        nullable=True, isin=PLANE_TYPES, metadata=classified("public", derived_from=["planes.type"])
    )
    plane_manufacturer: Series[str] = pa.Field(
        nullable=True, metadata=classified("public", derived_from=["planes.manufacturer"])
    )
    plane_engines: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=1, le=8, metadata=classified("public", derived_from=["planes.engines"])
    )
    plane_seats: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=1, le=1000, metadata=classified("public", derived_from=["planes.seats"])
    )
    has_plane: Series[pd.BooleanDtype] = pa.Field(
        description="the tail number is in the registry",
        metadata=declassified(
            "public",
            "a yes/no flag (is this aircraft in the public FAA registry); no tail number can be read from it",
            derived_from=["flights.tailnum", "planes.tailnum"],
        ),
    )
    dep_delay: Series[pd.Float64Dtype] = _delay()
    arr_delay: Series[pd.Float64Dtype] = _delay(EARLIEST_ARRIVAL_DELAY_MIN)
    cancelled: Series[pd.BooleanDtype]
    diverted: Series[pd.BooleanDtype]

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["has_plane", "plane_type"]})
    def plane_attributes_only_with_plane(cls, df: pd.DataFrame) -> Series[bool]:
        """Plane attributes come from the registry, so a flight without a registered plane has none."""
        return df["has_plane"].fillna(False) | df["plane_type"].isna()

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["has_weather", "visib"]})
    def weather_only_with_weather(cls, df: pd.DataFrame) -> Series[bool]:
        """Weather columns come from the origin's report, so an hour without one has none."""
        return df["has_weather"].fillna(False) | df["visib"].isna()


CONTRACTS: dict[tuple[str, ...], type[pa.DataFrameModel]] = {
    ("raw", "flights"): RawFlights,
    ("raw", "weather"): RawWeather,
    ("raw", "airlines"): RawAirlines,
    ("raw", "airports"): RawAirports,
    ("raw", "planes"): RawPlanes,
    ("curated", "flights"): CuratedFlights,
    ("curated", "weather"): CuratedWeather,
    ("curated", "airlines"): CuratedAirlines,
    ("curated", "airports"): CuratedAirports,
    ("curated", "planes"): CuratedPlanes,
    ("serving", "carrier_daily_performance"): CarrierDailyPerformance,
    ("serving", "route_daily"): RouteDaily,
    ("serving", "flight_delay_features"): FlightDelayFeatures,
}
