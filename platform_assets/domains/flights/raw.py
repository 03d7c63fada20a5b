"""Raw zone of the flights domain: landed files, byte for byte."""

from platform_assets.domains.flights.config import DAILY, DOMAIN
from platform_assets.domains.flights.source import DAILY_DATASETS, REFERENCE_DATASETS
from platform_assets.lake.raw_assets import raw_file_asset

_DESCRIPTIONS = {
    "flights": "Every departure from NYC landed for one local day, as the source exported it.",
    "weather": "Hourly weather at EWR, JFK and LGA for one local day, as landed.",
    "airlines": "Carrier codes and names, as landed.",
    "airports": "FAA airport list with coordinates and time zones, as landed.",
    "planes": "Aircraft registry by tail number, as landed.",
}

raw_assets = [
    raw_file_asset(name, domain=DOMAIN, description=_DESCRIPTIONS[name], partitions_def=DAILY)
    for name in DAILY_DATASETS
] + [raw_file_asset(name, domain=DOMAIN, description=_DESCRIPTIONS[name]) for name in REFERENCE_DATASETS]
