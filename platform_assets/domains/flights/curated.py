"""Curated zone of the flights domain: typed, deduplicated, UTC-timed tables."""

import dagster as dg
import pandas as pd

from platform_assets.domains.flights import curate
from platform_assets.domains.flights.config import DAILY, DOMAIN, domain_config
from platform_assets.lake.versions import RawFile

CURATED_CODE_VERSION = "1"
_TAGS = {"zone": "curated", "domain": DOMAIN}


def _parse_days(files: dict[str, RawFile], columns: dict[str, str]) -> pd.DataFrame:
    frames = [read_file(raw, columns) for _, raw in sorted(files.items())]
    return pd.concat(frames, ignore_index=True)


def read_file(raw: RawFile, columns: dict[str, str]) -> pd.DataFrame:
    return curate.read_landed_csv(raw.data, columns, raw.source_uri or raw.name)


@dg.asset(
    key=["curated", "flights"],
    ins={
        "raw_flights": dg.AssetIn(key=["raw", "flights"]),
        "airports": dg.AssetIn(key=["curated", "airports"], metadata={"columns": ["faa", "tzone"]}),
    },
    group_name="curated",
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    code_version=CURATED_CODE_VERSION,
    tags=_TAGS,
    kinds={"pandas", "parquet"},
    metadata={"partition_column": "date"},
    description=(
        "One row per scheduled departure (`flight_id`), typed, with UTC scheduled and actual "
        "departure and arrival times, `cancelled` (never departed) and `diverted` (departed, "
        "no arrival delay recorded). Exact and key duplicates are removed."
    ),
)
def curated_flights(raw_flights: dict[str, RawFile], airports: pd.DataFrame) -> pd.DataFrame:
    raw = _parse_days(raw_flights, curate.RAW_FLIGHTS_COLUMNS)
    zones = curate.timezone_map(airports, domain_config()["timezone_supplement"])
    return curate.curate_flights(raw, zones)


@dg.asset(
    key=["curated", "weather"],
    ins={"raw_weather": dg.AssetIn(key=["raw", "weather"])},
    group_name="curated",
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    code_version=CURATED_CODE_VERSION,
    tags=_TAGS,
    kinds={"pandas", "parquet"},
    metadata={"partition_column": "date"},
    description=(
        "Hourly weather per NYC origin airport with the hour as a UTC instant, one row per "
        "origin and hour. Hours and days the stations did not record are simply absent."
    ),
)
def curated_weather(raw_weather: dict[str, RawFile]) -> pd.DataFrame:
    return curate.curate_weather(_parse_days(raw_weather, curate.RAW_WEATHER_COLUMNS))


def _reference_asset(name: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["curated", name],
        ins={"raw_file": dg.AssetIn(key=["raw", name])},
        group_name="curated",
        code_version=CURATED_CODE_VERSION,
        tags=_TAGS,
        kinds={"pandas", "parquet"},
        description=description,
    )
    def _curated(raw_file: RawFile) -> pd.DataFrame:
        raw = read_file(raw_file, curate.RAW_REFERENCE_COLUMNS[name])
        return curate.curate_reference(name, raw)

    return _curated


curated_assets = [
    curated_flights,
    curated_weather,
    _reference_asset("airlines", "Airline carrier codes and names, one row per carrier."),
    _reference_asset(
        "airports",
        "FAA airports with location and IANA time zone, one row per code. Some airports "
        "flown to (San Juan, St. Thomas, ...) are not in this list.",
    ),
    _reference_asset(
        "planes",
        "Aircraft by tail number. About 15% of flights' tail numbers are not in this registry.",
    ),
]
