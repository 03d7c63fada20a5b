"""Seattle's daily weather, 2012-2015 (vega-datasets): the platform's second domain.

Built from the notebook `notebooks/seattle_weather_exploration.ipynb` by the steps in
`docs/notebook-to-production.md`; everything it needs from the platform it takes
through the platform's own functions."""

from platform_assets.domains.seattle_weather.assets import domain_assets
from platform_assets.domains.seattle_weather.config import domain_config
from platform_assets.domains.seattle_weather.contracts import CONTRACTS
from platform_assets.quality.audit import AuditSpec, attach_contracts, audit_checks

AUDITS = [
    AuditSpec(
        key,
        contract,
        landed_csv=key[0] == "raw",
        screened=key[0] == "curated",
        # Day-over-day, same-weekday and trailing-window checks compare days: the curated days.
        history=key[0] == "curated",
    )
    for key, contract in CONTRACTS.items()
]

assets = attach_contracts(domain_assets, AUDITS)
asset_checks = audit_checks(assets, AUDITS, domain_config().get("quality", {}))
sensors: list = []
jobs: list = []
