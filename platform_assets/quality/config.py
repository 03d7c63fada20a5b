"""Quality configuration: platform defaults (quality.toml) overridden by a domain, then an asset.

Read from package files, never from the environment at import time; validated when
the checks are built, so a typo in a section or key fails the code location's load
instead of silently falling back to a default."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import dagster as dg

DEFAULTS_FILE = "quality.toml"
ASSETS_SECTION = "assets"
SEVERITIES = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}


class QualityConfigError(ValueError):
    """A quality setting that names an unknown section, key or severity."""


@lru_cache(maxsize=1)
def platform_defaults() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath(DEFAULTS_FILE).read_text()
    return tomllib.loads(text)


def _overlay(base: dict[str, dict[str, Any]], override: Mapping[str, Any], where: str) -> None:
    for section, values in override.items():
        if section == ASSETS_SECTION:
            continue
        if section not in base or not isinstance(values, Mapping):
            raise QualityConfigError(f"{where}: unknown quality section {section!r}")
        unknown = sorted(set(values) - set(base[section]))
        if unknown:
            raise QualityConfigError(f"{where}: unknown key(s) {unknown} in [{section}]")
        base[section] = {**base[section], **values}


def asset_config(domain: Mapping[str, Any], asset: str) -> dict[str, dict[str, Any]]:
    """Every section for one asset (`"curated/<name>"`): defaults < domain < asset."""
    merged = {section: dict(values) for section, values in platform_defaults().items()}
    _overlay(merged, domain, "domain quality config")
    assets = domain.get(ASSETS_SECTION, {})
    _overlay(merged, assets.get(asset, {}), f"quality config of {asset}")
    for section, values in merged.items():
        if "severity" in values and values["severity"] not in SEVERITIES:
            raise QualityConfigError(
                f"{asset}: [{section}] severity {values['severity']!r} is not one of {sorted(SEVERITIES)}"
            )
    return merged


def unknown_assets(domain: Mapping[str, Any], known: set[str]) -> list[str]:
    """Assets the domain configures that it does not audit: almost always a typo."""
    return sorted(set(domain.get(ASSETS_SECTION, {})) - known)
