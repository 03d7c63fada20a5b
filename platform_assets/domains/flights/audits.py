"""How each flights asset is audited: its contract, and which platform checks apply.

Tolerances and severities live in flights.toml ([quality...]); this module only
says which checks an asset gets and, for referential integrity, what a miss means."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from platform_assets.domains.flights import contracts
from platform_assets.domains.flights.config import domain_config
from platform_assets.quality.audit import AuditSpec, attach_contracts, audit_checks
from platform_assets.quality.integrity import Policy, Relation

FLIGHT_RELATIONS = (
    # Every 2013 carrier is in the airlines table; a new code means the table is stale or
    # the code is wrong. The flight still happened and stays in carrier counts, so warn.
    Relation("carrier", ("curated", "airlines"), "carrier", Policy.WARN),
    # Destinations: 7,602 real 2013 flights go to BQN, PSE, SJU and STT, which the FAA list
    # does not carry. Expected and permanent, so reported only; their time zones come from
    # flights.toml. (A destination with no zone at all is quarantined by the curated step.)
    Relation("dest", ("curated", "airports"), "faa", Policy.REPORT),
    # Tail numbers: about 15% of flights (52,606 in 2013) fly planes the registry lacks;
    # report, and warn only when the share jumps, which means the registry itself broke.
    Relation("tailnum", ("curated", "planes"), "tailnum", Policy.REPORT, warn_above_share=0.35),
)
# Origins need no relation: the contract only admits EWR, JFK and LGA.

_EVENT_ASSETS = {
    ("curated", "flights"),
    ("curated", "weather"),
    ("serving", "carrier_daily_performance"),
    ("serving", "route_daily"),
    ("serving", "flight_delay_features"),
}

AUDITS: list[AuditSpec] = [
    AuditSpec(
        key,
        contract,
        landed_csv=key[0] == "raw",  # raw assets keep landed CSV files byte for byte
        screened=key[0] == "curated",
        history=key in _EVENT_ASSETS,
        relations=FLIGHT_RELATIONS if key == ("curated", "flights") else (),
    )
    for key, contract in contracts.CONTRACTS.items()
]


def audited(
    assets: Sequence[dg.AssetsDefinition],
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """The domain's assets carrying their contracts, and the checks that audit them."""
    with_contracts = attach_contracts(assets, AUDITS)
    return with_contracts, audit_checks(with_contracts, AUDITS, domain_config().get("quality", {}))
