"""Serving zone of the flights domain: tables shaped for dashboards and models.

Transformations run in DuckDB over Arrow tables handed over without a copy."""

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from platform_assets.domains.flights.config import DAILY, DOMAIN, domain_config

SERVING_CODE_VERSION = "1"
_TAGS = {"zone": "serving", "domain": DOMAIN}
_FLIGHT_COLUMNS = [
    "flight_id", "date", "carrier", "tailnum", "origin", "dest", "sched_dep_time",
    "dep_delay", "arr_delay", "air_time", "distance", "sched_dep_utc", "time_hour",
    "cancelled", "diverted",
]  # fmt: skip


# Among flights with a recorded arrival delay; cancelled and diverted flights have none.
ON_TIME_RATE = (
    "avg(CASE WHEN arr_delay IS NULL THEN NULL WHEN arr_delay <= $on_time_min THEN 1.0 ELSE 0.0 END)"
)


def sql_params() -> dict[str, object]:
    return {"on_time_min": int(domain_config()["serving"]["on_time_threshold_min"])}


def run_sql(
    duckdb: DuckDBResource,
    sql: str,
    tables: dict[str, pa.Table],
    params: dict[str, object] | None = None,
) -> pa.Table:
    """Run `sql` over Arrow tables registered by name, with values bound as parameters."""
    with duckdb.get_connection() as conn:
        for name, table in tables.items():
            conn.register(name, table)
        return conn.sql(sql, params=params).to_arrow_table()


CARRIER_DAILY_SQL = f"""
    SELECT date, carrier,
           count(*) AS flights,
           count(*) FILTER (WHERE cancelled) AS cancelled,
           count(*) FILTER (WHERE diverted) AS diverted,
           {ON_TIME_RATE} AS on_time_arrival_rate,
           avg(dep_delay) AS mean_dep_delay_min,
           quantile_cont(dep_delay, 0.9) AS p90_dep_delay_min,
           avg(arr_delay) AS mean_arr_delay_min,
           quantile_cont(arr_delay, 0.9) AS p90_arr_delay_min
    FROM flights
    GROUP BY date, carrier
    ORDER BY date, carrier
    """  # noqa: S608 - composed of constants only; values are bound parameters

ROUTE_DAILY_SQL = f"""
    SELECT date, origin, dest,
           count(*) AS flights,
           count(*) FILTER (WHERE cancelled) AS cancelled,
           count(DISTINCT carrier) AS carriers,
           {ON_TIME_RATE} AS on_time_arrival_rate,
           avg(dep_delay) AS mean_dep_delay_min,
           avg(arr_delay) AS mean_arr_delay_min,
           avg(air_time) AS mean_air_time_min,
           max(distance) AS distance_miles
    FROM flights
    GROUP BY date, origin, dest
    ORDER BY date, origin, dest
    """  # noqa: S608 - composed of constants only; values are bound parameters


FLIGHT_FEATURES_SQL = """
SELECT f.flight_id, f.date, f.carrier, f.origin, f.dest, f.tailnum,
       f.sched_dep_utc,
       CAST(f.sched_dep_time // 100 AS INTEGER) AS sched_dep_hour_local,
       isodow(CAST(f.date AS DATE)) AS day_of_week,
       month(CAST(f.date AS DATE)) AS month,
       f.distance,
       w.temp, w.dewp, w.humid, w.wind_dir, w.wind_speed, w.wind_gust, w.precip,
       w.pressure, w.visib,
       w.origin IS NOT NULL AS has_weather,
       p.year AS plane_year, p.type AS plane_type, p.manufacturer AS plane_manufacturer,
       p.engines AS plane_engines, p.seats AS plane_seats,
       p.tailnum IS NOT NULL AS has_plane,
       f.dep_delay, f.arr_delay, f.cancelled, f.diverted
FROM flights f
LEFT JOIN weather w ON w.origin = f.origin AND w.time_hour = f.time_hour
LEFT JOIN planes p ON p.tailnum = f.tailnum
ORDER BY f.date, f.sched_dep_utc, f.flight_id
"""


def _flights_in(columns: list[str]) -> dg.AssetIn:
    return dg.AssetIn(key=["curated", "flights"], metadata={"columns": columns})


_COMMON = dict(
    group_name="serving",
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    code_version=SERVING_CODE_VERSION,
    tags=_TAGS,
    kinds={"duckdb", "parquet"},
    metadata={"partition_column": "date"},
)
_WEATHER_COLUMNS = [
    "origin", "time_hour", "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip",
    "pressure", "visib",
]  # fmt: skip
_AGGREGATE_COLUMNS = [
    "date", "carrier", "origin", "dest", "dep_delay", "arr_delay", "air_time", "distance",
    "cancelled", "diverted",
]  # fmt: skip


@dg.asset(
    key=["serving", "carrier_daily_performance"],
    ins={"flights": _flights_in(_AGGREGATE_COLUMNS)},
    description=(
        "Per day and carrier: flights scheduled, cancelled and diverted; share of arrivals at "
        "most 15 minutes late (among flights that arrived); mean and 90th-percentile departure "
        "and arrival delay in minutes."
    ),
    **_COMMON,
)
def carrier_daily_performance(flights: pa.Table, duckdb: DuckDBResource) -> pa.Table:
    return run_sql(duckdb, CARRIER_DAILY_SQL, {"flights": flights}, sql_params())


@dg.asset(
    key=["serving", "route_daily"],
    ins={"flights": _flights_in(_AGGREGATE_COLUMNS)},
    description=(
        "Per day, origin and destination: flights, cancellations, carriers flying it, on-time "
        "arrival rate, mean delays and air time, distance."
    ),
    **_COMMON,
)
def route_daily(flights: pa.Table, duckdb: DuckDBResource) -> pa.Table:
    return run_sql(duckdb, ROUTE_DAILY_SQL, {"flights": flights}, sql_params())


@dg.asset(
    key=["serving", "flight_delay_features"],
    ins={
        "flights": _flights_in(_FLIGHT_COLUMNS),
        "weather": dg.AssetIn(key=["curated", "weather"], metadata={"columns": _WEATHER_COLUMNS}),
        "planes": dg.AssetIn(
            key=["curated", "planes"],
            metadata={"columns": ["tailnum", "year", "type", "manufacturer", "engines", "seats"]},
        ),
    },
    description=(
        "One row per flight, model-ready: the flight's schedule, its origin's weather at the "
        "scheduled hour and its plane's attributes (left joins: flights without a weather "
        "record or a registered plane stay, flagged by `has_weather` / `has_plane`), with "
        "delays and `cancelled` as targets."
    ),
    **_COMMON,
)
def flight_delay_features(
    flights: pa.Table, weather: pa.Table, planes: pa.Table, duckdb: DuckDBResource
) -> pa.Table:
    return run_sql(duckdb, FLIGHT_FEATURES_SQL, {"flights": flights, "weather": weather, "planes": planes})


serving_assets = [carrier_daily_performance, route_daily, flight_delay_features]
