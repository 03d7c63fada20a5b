"""Curated zone of the flights domain: typed, screened, UTC-timed tables.

Each landed file is parsed against its raw contract, transformed, then screened
against the curated contract: rows that break a row rule (or repeat an earlier row
or key) go to the quarantine zone with their reasons and the rest continue. The
audit check then decides whether the partition may publish (`rejected_share`)."""

import dagster as dg
import pandas as pd

from platform_assets.domains.flights import contracts, curate
from platform_assets.domains.flights.config import DAILY, DOMAIN, domain_config
from platform_assets.lake.quarantine import Screened
from platform_assets.lake.versions import RawFile
from platform_assets.quality.contracts import Contract
from platform_assets.quality.curation import landed_frames, screen_landed_days
from platform_assets.quality.quarantine import screen

CURATED_CODE_VERSION = "3"  # 3: arrivals at clock changes placed by the delay
_TAGS = {"zone": "curated", "domain": DOMAIN}
# A flight to an airport with no known time zone cannot have its arrival placed in time.
DEST_TIMEZONE_UNKNOWN = "dest_timezone_unknown"


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
        "no arrival delay recorded). Exact and key duplicates and rows breaking the contract "
        "are quarantined."
    ),
)
def curated_flights(raw_flights: dict[str, RawFile], airports: pd.DataFrame) -> dict[str, Screened]:
    zones = curate.timezone_map(airports, domain_config()["timezone_supplement"])
    return screen_landed_days(
        raw_flights,
        contracts.RawFlights,
        lambda landed: curate.curate_flights(landed, zones),
        contracts.CuratedFlights,
        lambda frame: {DEST_TIMEZONE_UNKNOWN: curate.destinations_without_timezone(frame, zones)},
    )


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
def curated_weather(raw_weather: dict[str, RawFile]) -> dict[str, Screened]:
    return screen_landed_days(
        raw_weather, contracts.RawWeather, curate.curate_weather, contracts.CuratedWeather
    )


_REFERENCE_CONTRACTS: dict[str, tuple[Contract, Contract]] = {
    "airlines": (contracts.RawAirlines, contracts.CuratedAirlines),
    "airports": (contracts.RawAirports, contracts.CuratedAirports),
    "planes": (contracts.RawPlanes, contracts.CuratedPlanes),
}


def _reference_asset(name: str, description: str) -> dg.AssetsDefinition:
    raw_contract, contract = _REFERENCE_CONTRACTS[name]

    @dg.asset(
        key=["curated", name],
        ins={"raw_file": dg.AssetIn(key=["raw", name])},
        group_name="curated",
        code_version=CURATED_CODE_VERSION,
        tags=_TAGS,
        kinds={"pandas", "parquet"},
        description=description,
    )
    def _curated(raw_file: RawFile) -> Screened:
        landed = landed_frames({"reference": raw_file}, raw_contract)["reference"]
        return screen(curate.curate_reference(name, landed), contract, originals=landed)

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
