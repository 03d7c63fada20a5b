"""Promotion and canary constants, read once and validated.

The platform's own (tolerances, the order of environments) are in maintenance.toml;
what depends on the data (which datasets are sensitive, how a representative canary
slice is picked) is in each domain's `<name>.toml`, under `[promotion]` and
`[canary.slice]`. Every key is checked against the fields below: a typo would
otherwise leave a tolerance at its default while the file claims otherwise."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

CONFIG_FILE = "maintenance.toml"
HOLIDAY_CALENDARS = ("us_federal",)


class MaintenanceConfigError(ValueError):
    """A maintenance setting that is unknown, missing or of the wrong type."""


@dataclass(frozen=True)
class Tolerance:
    """How far a candidate version may differ from the published one."""

    max_row_count_change: float
    max_changed_row_share: float
    max_null_rate_change: float
    max_distribution_shift: float
    allow_schema_changes: bool
    quantiles: tuple[float, ...]


@dataclass(frozen=True)
class SliceConfig:
    """Where the representative canary slice is computed from."""

    volume_asset: str
    count_asset: str
    count_column: str
    timezone: str
    holiday_calendar: str


@dataclass(frozen=True)
class MaintenanceConfig:
    promotion: Tolerance
    canary: Tolerance
    sensitive_assets: frozenset[str]
    environment_order: tuple[str, ...]
    canary_slices: Mapping[str, SliceConfig]  # by domain
    source: str

    def canary_slice(self, domain: str) -> SliceConfig:
        """How `platform canary --auto` picks days for `domain`'s assets."""
        if domain not in self.canary_slices:
            known = ", ".join(sorted(self.canary_slices)) or "none"
            raise MaintenanceConfigError(
                f"domain {domain!r} has no [canary.slice] in its toml (domains with one: {known}); "
                "give the days with --partitions"
            )
        return self.canary_slices[domain]


def _section(data: dict[str, Any], path: str, where: str) -> dict[str, Any]:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise MaintenanceConfigError(f"{where}: missing section [{path}]")
        node = node[part]
    return node


def _build(cls: type, values: dict[str, Any], section: str, where: str, nested: tuple[str, ...] = ()) -> Any:
    """`cls` from a TOML table, refusing unknown and missing keys and wrong types by name."""
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(names) - set(nested))
    if unknown:
        raise MaintenanceConfigError(f"{where}: unknown key(s) {unknown} in [{section}]")
    missing = sorted(set(names) - set(values))
    if missing:
        raise MaintenanceConfigError(f"{where}: missing key(s) {missing} in [{section}]")
    out: dict[str, Any] = {}
    for name, field in names.items():
        value = values[name]
        kind = str(field.type)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise MaintenanceConfigError(f"{where}: [{section}] {name} must be a number >= 0: {value!r}")
            value = float(value)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise MaintenanceConfigError(f"{where}: [{section}] {name} must be true or false: {value!r}")
        elif kind == "str":
            if not isinstance(value, str) or not value:
                raise MaintenanceConfigError(f"{where}: [{section}] {name} must be a non-empty string")
        elif not isinstance(value, list):
            raise MaintenanceConfigError(f"{where}: [{section}] {name} must be a list, got {value!r}")
        out[name] = value
    return cls(**out)


def parse_config(
    data: dict[str, Any], where: str, domains: Mapping[str, dict[str, Any]] | None = None
) -> MaintenanceConfig:
    """The platform's settings from `data`, the domains' from their tomls (or `domains`)."""
    promotion = _section(data, "promotion", where)
    canary = _section(data, "canary", where)
    tolerances = {}
    for name in ("promotion", "canary"):
        values = dict(_section(data, f"{name}.tolerance", where))
        quantiles = values.get("quantiles", [])
        if not isinstance(quantiles, list) or not all(
            isinstance(q, int | float) and 0 <= q <= 1 for q in quantiles
        ):
            raise MaintenanceConfigError(f"{where}: [{name}.tolerance] quantiles must be numbers in [0, 1]")
        values["quantiles"] = []
        tolerance = _build(Tolerance, values, f"{name}.tolerance", where)
        as_floats = tuple(float(q) for q in quantiles)
        tolerances[name] = Tolerance(**{**tolerance.__dict__, "quantiles": as_floats})
    extra = sorted(set(promotion) - {"tolerance", "environment_order"})
    if extra:
        raise MaintenanceConfigError(f"{where}: unknown key(s) {extra} in [promotion]{_MOVED}")
    extra = sorted(set(canary) - {"tolerance"})
    if extra:
        raise MaintenanceConfigError(f"{where}: unknown key(s) {extra} in [canary]{_MOVED}")
    order = promotion.get("environment_order", [])
    if not isinstance(order, list) or len(order) < 2 or len(set(order)) != len(order):
        raise MaintenanceConfigError(f"{where}: [promotion] environment_order must name 2+ environments")
    sensitive: set[str] = set()
    slices: dict[str, SliceConfig] = {}
    for domain, settings in (domains if domains is not None else _domain_settings()).items():
        found, slice_config = parse_domain_settings(settings, f"domains/{domain}/{domain}.toml")
        sensitive |= found
        if slice_config is not None:
            slices[domain] = slice_config
    return MaintenanceConfig(
        promotion=tolerances["promotion"],
        canary=tolerances["canary"],
        sensitive_assets=frozenset(sensitive),
        environment_order=tuple(order),
        canary_slices=slices,
        source=where,
    )


# Said when a platform file still carries a domain's settings.
_MOVED = " (sensitive_assets and [canary.slice] belong in each domain's <name>.toml)"


def parse_domain_settings(data: dict[str, Any], where: str) -> tuple[set[str], SliceConfig | None]:
    """A domain toml's sensitive datasets and canary slice rules (both optional)."""
    promotion = data.get("promotion", {})
    extra = sorted(set(promotion) - {"sensitive_assets"})
    if extra:
        raise MaintenanceConfigError(f"{where}: unknown key(s) {extra} in [promotion]")
    sensitive = promotion.get("sensitive_assets", [])
    if not isinstance(sensitive, list) or not all(
        isinstance(s, str) and s.count("/") == 1 for s in sensitive
    ):
        raise MaintenanceConfigError(
            f"{where}: [promotion] sensitive_assets must be a list of asset keys like '<zone>/<name>'"
        )
    canary = data.get("canary", {})
    extra = sorted(set(canary) - {"slice"})
    if extra:
        raise MaintenanceConfigError(f"{where}: unknown key(s) {extra} in [canary]")
    if "slice" not in canary:
        return set(sensitive), None
    slice_config = _build(SliceConfig, canary["slice"], "canary.slice", where)
    if slice_config.holiday_calendar not in HOLIDAY_CALENDARS:
        raise MaintenanceConfigError(
            f"{where}: [canary.slice] holiday_calendar must be one of {HOLIDAY_CALENDARS}"
        )
    return set(sensitive), slice_config


def _domain_settings() -> dict[str, dict[str, Any]]:
    from platform_assets.domains import domain_names, domain_toml

    return {domain: domain_toml(domain) for domain in domain_names()}


def load_config(path: Path | str | None = None) -> MaintenanceConfig:
    """The shipped maintenance.toml, or the file a caller names (`--config`)."""
    if path is None:
        text = resources.files(__package__).joinpath(CONFIG_FILE).read_text()
        where = f"platform_assets/maintenance/{CONFIG_FILE}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise MaintenanceConfigError(f"{where}: cannot read: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MaintenanceConfigError(f"{where}: {error}") from None
    return parse_config(data, where)
