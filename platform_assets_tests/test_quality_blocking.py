"""Which audit checks block: exactly those whose configured severity is ERROR."""

from platform_assets.definitions import build_definitions
from platform_assets.domains.flights.config import domain_config
from platform_assets.quality.config import asset_config

SECTION = {
    "row_volume": "row_volume",
    "day_over_day_volume": "day_over_day",
    "null_rates": "null_rate",
    "distribution_shift": "shift",
}


def test_blocking_follows_configured_severity() -> None:
    specs = [s for c in build_definitions().asset_checks for s in c.check_specs]
    assert specs
    quality = domain_config().get("quality", {})
    seen_warn = seen_error = 0
    for spec in specs:
        asset = spec.asset_key.to_user_string()
        if spec.name == "reference_integrity":
            assert not spec.blocking, asset  # reported, never holds a flight back
        elif spec.name == "feature_drift":
            assert not spec.blocking, asset  # drift warns and requests a retrain; scores still publish
        elif spec.name in SECTION:
            severity = asset_config(quality, asset)[SECTION[spec.name]]["severity"]
            assert spec.blocking == (severity == "ERROR"), (asset, spec.name, severity)
            seen_warn += severity == "WARN"
            seen_error += severity == "ERROR"
        else:  # the contract and the quarantine share always gate publishing
            assert spec.blocking, (asset, spec.name)
    assert seen_warn and seen_error
