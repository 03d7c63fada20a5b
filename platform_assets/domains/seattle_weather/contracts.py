"""Contracts of the Seattle weather domain: what each raw, curated and serving table promises.

The raw contract states only what the source promises (the columns, each readable as
its type); curated and serving contracts state what readers may rely on. Bounds admit
every real 2012-2015 observation (precipitation up to 55.9 mm, temperatures -7.1 to
35.6 degrees C, wind up to 9.5 m/s) and refuse the physically impossible.

Classification: public observations (NOAA via vega-datasets), `public` throughout."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from platform_assets.governance.classification import contract_default
from platform_assets.quality.contracts import COLUMNS_STATISTIC

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
MONTH_KEY_PATTERN = r"^\d{4}-\d{2}-01$"  # a month is keyed by its first day, as its partition
WEATHER_TYPES = ["drizzle", "fog", "rain", "snow", "sun"]
# Seattle's wettest day on record is 5.02 in (127.5 mm); 300 mm in a day is a broken gauge.
MAX_DAILY_PRECIPITATION_MM = 300.0
# Washington's records are -48 and 48 degrees C.
COLDEST_C, HOTTEST_C = -50.0, 50.0
MAX_MEAN_WIND_MS = 60.0  # a daily mean above hurricane strength is a wrong unit


class _Public(pa.DataFrameModel):
    class Config:
        metadata = contract_default("public")


class RawSeattleWeather(_Public):
    date: Series[str] = pa.Field(nullable=True)
    precipitation: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    temp_max: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    temp_min: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    wind: Series[pd.Float64Dtype] = pa.Field(nullable=True)
    weather: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True  # an extra column is schema drift, reported by name
        coerce = True  # values arrive as text; coercion failures are reported by row


class CuratedSeattleWeather(_Public):
    date: Series[str] = pa.Field(unique=True, str_matches=DATE_PATTERN)
    precipitation: Series[pd.Float64Dtype] = pa.Field(ge=0, le=MAX_DAILY_PRECIPITATION_MM, description="mm")
    temp_max: Series[pd.Float64Dtype] = pa.Field(ge=COLDEST_C, le=HOTTEST_C, description="degrees C")
    temp_min: Series[pd.Float64Dtype] = pa.Field(ge=COLDEST_C, le=HOTTEST_C, description="degrees C")
    wind: Series[pd.Float64Dtype] = pa.Field(ge=0, le=MAX_MEAN_WIND_MS, description="mean m/s")
    weather: Series[str] = pa.Field(isin=WEATHER_TYPES)

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["temp_min", "temp_max"]})
    def min_not_above_max(cls, df: pd.DataFrame) -> Series[bool]:
        """A day's minimum temperature is never above its maximum."""
        return df["temp_min"] <= df["temp_max"]


class SeattleWeatherMonthly(_Public):
    month: Series[str] = pa.Field(unique=True, str_matches=MONTH_KEY_PATTERN)
    days: Series[pd.Int64Dtype] = pa.Field(ge=1, le=31, description="days observed")
    precipitation_mm: Series[pd.Float64Dtype] = pa.Field(ge=0, description="total over the month")
    wet_days: Series[pd.Int64Dtype] = pa.Field(ge=0, le=31, description="days with precipitation > 0")
    temp_max_c: Series[pd.Float64Dtype] = pa.Field(ge=COLDEST_C, le=HOTTEST_C, description="warmest")
    temp_min_c: Series[pd.Float64Dtype] = pa.Field(ge=COLDEST_C, le=HOTTEST_C, description="coldest")
    mean_temp_range_c: Series[pd.Float64Dtype] = pa.Field(ge=0, description="mean of max - min")
    mean_wind_ms: Series[pd.Float64Dtype] = pa.Field(ge=0, le=MAX_MEAN_WIND_MS)

    @pa.dataframe_check(statistics={COLUMNS_STATISTIC: ["days", "wet_days"]})
    def wet_days_within_days(cls, df: pd.DataFrame) -> Series[bool]:
        """A month has no more wet days than days observed."""
        return df["wet_days"] <= df["days"]


class SeattleWeatherTypeDays(_Public):
    month: Series[str] = pa.Field(str_matches=MONTH_KEY_PATTERN)
    weather: Series[str] = pa.Field(isin=WEATHER_TYPES)
    days: Series[pd.Int64Dtype] = pa.Field(ge=1, le=31)

    class Config:
        unique = ["month", "weather"]


CONTRACTS: dict[tuple[str, ...], type[pa.DataFrameModel]] = {
    ("raw", "seattle_weather"): RawSeattleWeather,
    ("curated", "seattle_weather"): CuratedSeattleWeather,
    ("serving", "seattle_weather_monthly"): SeattleWeatherMonthly,
    ("serving", "seattle_weather_type_days"): SeattleWeatherTypeDays,
}
