"""The data floor: the platform's flights transformations as one DuckDB pass.

What a competent engineer would write without a platform: read every landed CSV in
one scan per table, type and curate in SQL (time zones through DuckDB's ICU), drop
the rows the curated contracts reject, aggregate with the platform's own serving
SQL, and write one Parquet file per day per table with `PARTITION_BY`. No versions,
no manifests, no audits: the time it takes is the work the data itself needs, the
floor the platform's overhead is measured against.

    .venv/bin/python benchmarks/data_floor.py LANDING_DIR OUT_DIR --start 2013-01-01 --end 2013-12-31
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from platform_assets.domains.flights import serving
from platform_assets.domains.flights.config import domain_config

_FLIGHT_TYPES = {
    "year": "BIGINT", "month": "BIGINT", "day": "BIGINT", "dep_time": "BIGINT", "sched_dep_time": "BIGINT",
    "dep_delay": "DOUBLE", "arr_time": "BIGINT", "sched_arr_time": "BIGINT", "arr_delay": "DOUBLE",
    "carrier": "VARCHAR", "flight": "BIGINT", "tailnum": "VARCHAR", "origin": "VARCHAR", "dest": "VARCHAR",
    "air_time": "DOUBLE", "distance": "BIGINT", "hour": "BIGINT", "minute": "BIGINT", "time_hour": "VARCHAR",
}  # fmt: skip
_WEATHER_TYPES = {
    "origin": "VARCHAR", "year": "BIGINT", "month": "BIGINT", "day": "BIGINT", "hour": "BIGINT",
    "temp": "DOUBLE", "dewp": "DOUBLE", "humid": "DOUBLE", "wind_dir": "DOUBLE", "wind_speed": "DOUBLE",
    "wind_gust": "DOUBLE", "precip": "DOUBLE", "pressure": "DOUBLE", "visib": "DOUBLE",
    "time_hour": "VARCHAR",
}  # fmt: skip

# Local hhmm to minutes after midnight; null unless a clock time (2400 is the next midnight).
_MINUTES = "CASE WHEN {c} BETWEEN 0 AND 2400 AND {c} % 100 < 60 THEN ({c} // 100) * 60 + {c} % 100 END"


def _arrival(after: str, hhmm: str) -> str:
    """The first instant at or after `after` whose local clock at the destination reads `hhmm`."""
    minutes = _MINUTES.format(c=hhmm)
    base = f"date_trunc('day', timezone(z.tzone, {after}))"
    same_day = f"timezone(z.tzone, {base} + to_minutes({minutes}))"
    next_day = f"timezone(z.tzone, {base} + INTERVAL 1 DAY + to_minutes({minutes}))"
    return f"CASE WHEN {same_day} >= {after} THEN {same_day} ELSE {next_day} END"


CURATED_FLIGHTS_SQL = f"""
WITH typed AS (
    SELECT *, strftime(make_date(year, month, day), '%Y-%m-%d') AS date,
           timezone('America/New_York',
                    make_date(year, month, day)::TIMESTAMP
                    + to_minutes({_MINUTES.format(c="sched_dep_time")})) AS sched_dep_utc
    FROM raw_flights
), timed AS (
    SELECT t.*, t.sched_dep_utc + to_minutes(CAST(t.dep_delay AS BIGINT)) AS dep_utc, z.tzone
    FROM typed t LEFT JOIN zones z ON z.faa = t.dest
)
SELECT date || '_' || carrier || flight || '_' || origin || '_'
           || lpad(CAST(sched_dep_time AS VARCHAR), 4, '0') AS flight_id,
       date, carrier, flight, tailnum, origin, dest, sched_dep_time, dep_time, sched_arr_time, arr_time,
       dep_delay, arr_delay, air_time, distance, sched_dep_utc, dep_utc,
       {_arrival("sched_dep_utc", "sched_arr_time").replace("z.tzone", "tzone")} AS sched_arr_utc,
       {_arrival("dep_utc", "arr_time").replace("z.tzone", "tzone")} AS arr_utc,
       CAST(time_hour AS TIMESTAMPTZ) AS time_hour,
       dep_time IS NULL AS cancelled,
       dep_time IS NOT NULL AND arr_delay IS NULL AS diverted
FROM timed
WHERE tzone IS NOT NULL AND carrier IS NOT NULL AND origin IN ('EWR', 'JFK', 'LGA')
      AND flight BETWEEN 1 AND 9999 AND distance > 0 AND sched_dep_utc IS NOT NULL
      AND (air_time IS NULL OR air_time > 0)
QUALIFY row_number() OVER (PARTITION BY flight_id ORDER BY sched_dep_utc) = 1
ORDER BY date, sched_dep_utc, flight_id
"""  # noqa: S608 - composed of constants only

CURATED_WEATHER_SQL = """
SELECT origin, strftime(make_date(year, month, day), '%Y-%m-%d') AS date,
       CAST(time_hour AS TIMESTAMPTZ) AS time_hour, hour, temp, dewp, humid, wind_dir, wind_speed,
       wind_gust, precip, pressure, visib
FROM raw_weather
WHERE origin IN ('EWR', 'JFK', 'LGA') AND hour BETWEEN 0 AND 23
      AND coalesce(temp BETWEEN -60 AND 130, TRUE) AND coalesce(dewp BETWEEN -80 AND 100, TRUE)
      AND coalesce(humid BETWEEN 0 AND 100, TRUE) AND coalesce(wind_dir BETWEEN 0 AND 360, TRUE)
      AND coalesce(wind_speed BETWEEN 0 AND 150, TRUE) AND coalesce(wind_gust BETWEEN 0 AND 200, TRUE)
      AND precip BETWEEN 0 AND 10 AND coalesce(pressure BETWEEN 870 AND 1090, TRUE) AND visib BETWEEN 0 AND 10
QUALIFY row_number() OVER (PARTITION BY origin, time_hour ORDER BY hour) = 1
ORDER BY date, origin, time_hour
"""


def _days(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def run(landing: Path, out: Path, start: date, end: date) -> dict[str, int]:
    """Write every daily table for [start, end] under `out/<table>/date=<day>/`; curated row counts."""
    days = _days(start, end)
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET enable_progress_bar = false")
    na = ["", "NA"]
    for name, types in (("flights", _FLIGHT_TYPES), ("weather", _WEATHER_TYPES)):
        files = [str(landing / name / f"{day}.csv") for day in days]
        conn.read_csv(files, header=True, dtype=types, na_values=na).to_view(f"raw_{name}")
    for name in ("airports", "planes"):
        conn.read_csv(str(landing / f"{name}.csv"), header=True, na_values=na).to_table(name)
    conn.execute("CREATE TEMP TABLE zones (faa VARCHAR, tzone VARCHAR)")
    conn.executemany(
        "INSERT INTO zones VALUES (?, ?)", sorted(domain_config()["timezone_supplement"].items())
    )
    conn.execute(
        "INSERT INTO zones SELECT faa, tzone FROM airports "
        "WHERE tzone IS NOT NULL AND faa NOT IN (SELECT faa FROM zones)"
    )
    conn.execute(f"CREATE TEMP TABLE flights AS {CURATED_FLIGHTS_SQL}")
    conn.execute(f"CREATE TEMP TABLE weather AS {CURATED_WEATHER_SQL}")
    on_time = str(int(serving.sql_params()["on_time_min"]))
    queries = {
        "curated_flights": "SELECT * FROM flights",
        "curated_weather": "SELECT * FROM weather",
        "carrier_daily_performance": serving.CARRIER_DAILY_SQL.replace("$on_time_min", on_time),
        "route_daily": serving.ROUTE_DAILY_SQL.replace("$on_time_min", on_time),
        "flight_delay_features": serving.FLIGHT_FEATURES_SQL,
    }
    out.mkdir(parents=True, exist_ok=True)
    rows = {name: len(conn.table(name)) for name in ("flights", "weather")}
    for table, sql in queries.items():
        conn.sql(sql).write_parquet(
            str(out / table),
            compression="zstd",
            partition_by=["date"],
            write_partition_columns=True,
            overwrite=True,
        )
    conn.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("landing", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2013, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2013, 12, 31))
    args = parser.parse_args()
    began = time.perf_counter()
    rows = run(args.landing, args.out, args.start, args.end)
    print(f"data floor: {time.perf_counter() - began:.2f} s, rows {rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
