"""Sanity check: the data floor's Parquet files hold what the platform published.

Compared per table for a few days, rows sorted by the table's key, on the columns both
sides have; numbers within 1e-9 relative, everything else as text. A difference is
reported (table, day, column, how many values), never hidden: the floor is only a
fair floor if it does the same work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from platform_assets.catalog import Catalog
from platform_assets.lake.storage import LakeStorage

KEYS = {
    "curated_flights": ("curated/flights", ["flight_id"]),
    "curated_weather": ("curated/weather", ["origin", "time_hour"]),
    "carrier_daily_performance": ("serving/carrier_daily_performance", ["date", "carrier"]),
    "route_daily": ("serving/route_daily", ["date", "origin", "dest"]),
    "flight_delay_features": ("serving/flight_delay_features", ["flight_id"]),
}


def _normal(series: pd.Series) -> pd.Series:
    """Numbers as floats (NaN for missing); everything else as text with one spelling of missing."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC")
    missing = series.isna().to_numpy()
    return pd.Series(["None" if m else str(v) for v, m in zip(series.astype(object), missing, strict=True)])


def differences(floor_dir: Path, lake_url: str, days: list[str]) -> list[str]:
    """Every disagreement between the floor's files and the published versions of `days`."""
    catalog = Catalog(LakeStorage.from_url(lake_url))
    problems = []
    for table, (asset, keys) in KEYS.items():
        for day in days:
            files = sorted((floor_dir / table / f"date={day}").glob("*.parquet"))
            floor = pd.concat([pq.read_table(f).to_pandas() for f in files]) if files else pd.DataFrame()
            platform = catalog.load(asset, [day])
            if len(floor) != len(platform):
                problems.append(f"{table} {day}: {len(floor)} rows in the floor, {len(platform)} published")
                continue
            if len(floor) == 0:  # an empty day (2013-12-31 has no weather) has nothing more to compare
                continue
            columns = [c for c in platform.columns if c in floor.columns]
            left = floor[columns].sort_values(keys).reset_index(drop=True)
            right = platform[columns].sort_values(keys).reset_index(drop=True)
            for column in columns:
                a, b = _normal(left[column]), _normal(right[column])
                if a.dtype == "float64" and b.dtype == "float64":
                    same = np.isclose(a, b, rtol=1e-9, equal_nan=True)
                else:
                    same = a.astype(str).to_numpy() == b.astype(str).to_numpy()
                if not same.all():
                    problems.append(f"{table} {day} column {column}: {int((~same).sum())} value(s) differ")
    return problems
