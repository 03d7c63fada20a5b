"""The analyst's numbers, moved out of `notebooks/seattle_weather_exploration.ipynb`.

Plain pandas over curated days, so the notebook's cells and these functions read
alike; a month is keyed by its first day (`2012-01-01`), the serving partition key."""

from __future__ import annotations

import pandas as pd


def month_key(dates: pd.Series) -> pd.Series:
    """`YYYY-MM-01` for each `YYYY-MM-DD` day."""
    return dates.str.slice(0, 7) + "-01"


def monthly_summary(days: pd.DataFrame) -> pd.DataFrame:
    """Per month: days observed, total precipitation and wet days, temperature extremes,
    the mean daily temperature range and the mean wind."""
    frame = days.assign(month=month_key(days["date"]), temp_range=days["temp_max"] - days["temp_min"])
    grouped = frame.groupby("month", sort=True)
    summary = pd.DataFrame(
        {
            "days": grouped.size(),
            "precipitation_mm": grouped["precipitation"].sum(),
            "wet_days": grouped["precipitation"].agg(lambda values: int((values > 0).sum())),
            "temp_max_c": grouped["temp_max"].max(),
            "temp_min_c": grouped["temp_min"].min(),
            "mean_temp_range_c": grouped["temp_range"].mean(),
            "mean_wind_ms": grouped["wind"].mean(),
        }
    ).reset_index()
    return summary.astype({"days": "Int64", "wet_days": "Int64"})


def weather_type_days(days: pd.DataFrame) -> pd.DataFrame:
    """Per month and weather type: the days that type was recorded."""
    frame = days.assign(month=month_key(days["date"]))
    counts = frame.groupby(["month", "weather"], sort=True).size().rename("days").reset_index()
    return counts.astype({"days": "Int64"})
