"""Raw, curated and serving assets of the Seattle weather domain.

Raw copies each landed day byte for byte; curated types and screens it (a day whose
row breaks the contract goes to quarantine); serving summarises months. Every
piece of machinery (raw copies, screening, versions, audits) is the platform's."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from platform_assets.domains.seattle_weather import contracts, summaries
from platform_assets.domains.seattle_weather.config import DAILY, DOMAIN, MONTHLY
from platform_assets.domains.seattle_weather.source import DATASET
from platform_assets.lake.quarantine import Screened
from platform_assets.lake.raw_assets import raw_file_asset
from platform_assets.lake.versions import RawFile
from platform_assets.quality.curation import screen_landed_days

CODE_VERSION = "1"
_CURATED_COLUMNS = ["date", "precipitation", "temp_max", "temp_min", "wind", "weather"]

raw_seattle_weather = raw_file_asset(
    DATASET,
    domain=DOMAIN,
    description="Seattle's daily weather observation, one landed CSV per day, as the source exported it.",
    partitions_def=DAILY,
)


def _curate(landed: pd.DataFrame) -> pd.DataFrame:
    """Landed rows in the curated shape; keeps the (partition, row) index screening needs."""
    frame = landed.copy()
    frame["weather"] = frame["weather"].str.strip().str.lower()
    return frame[_CURATED_COLUMNS]


@dg.asset(
    key=["curated", "seattle_weather"],
    ins={"raw_days": dg.AssetIn(key=["raw", DATASET])},
    group_name="curated",
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    code_version=CODE_VERSION,
    tags={"zone": "curated", "domain": DOMAIN},
    kinds={"pandas", "parquet"},
    metadata={"partition_column": "date"},
    description=(
        "One row per day: precipitation (mm), maximum and minimum temperature (degrees C), "
        "mean wind (m/s) and the day's weather type. A row breaking the contract is quarantined."
    ),
)
def curated_seattle_weather(raw_days: dict[str, RawFile]) -> dict[str, Screened]:
    return screen_landed_days(raw_days, contracts.RawSeattleWeather, _curate, contracts.CuratedSeattleWeather)


_SERVING = dict(
    group_name="serving",
    partitions_def=MONTHLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    code_version=CODE_VERSION,
    tags={"zone": "serving", "domain": DOMAIN},
    kinds={"pandas", "parquet"},
    metadata={"partition_column": "month"},
)
# A month reads every curated day in it (Dagster maps the daily partitions to the month).
_DAYS_IN = {"days": dg.AssetIn(key=["curated", "seattle_weather"])}


@dg.asset(
    key=["serving", "seattle_weather_monthly"],
    ins=_DAYS_IN,
    description=(
        "Per month: days observed, total precipitation (mm) and wet days, warmest maximum and "
        "coldest minimum (degrees C), mean daily temperature range and mean wind."
    ),
    **_SERVING,
)
def seattle_weather_monthly(days: pd.DataFrame) -> pd.DataFrame:
    return summaries.monthly_summary(days)


@dg.asset(
    key=["serving", "seattle_weather_type_days"],
    ins=_DAYS_IN,
    description="Per month and weather type (sun, fog, rain, drizzle, snow): days it was recorded.",
    **_SERVING,
)
def seattle_weather_type_days(days: pd.DataFrame) -> pd.DataFrame:
    return summaries.weather_type_days(days)


domain_assets = [
    raw_seattle_weather,
    curated_seattle_weather,
    seattle_weather_monthly,
    seattle_weather_type_days,
]
