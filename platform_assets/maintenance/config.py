"""Promotion and canary constants (maintenance.toml), read once and validated.

Every key is checked against the fields below: a typo would otherwise leave a
tolerance at its default while the file claims otherwise."""

from __future__ import annotations

import tomllib
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
    canary_slice: SliceConfig
    source: str


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


def parse_config(data: dict[str, Any], where: str) -> MaintenanceConfig:
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
    extra = sorted(set(promotion) - {"tolerance", "sensitive_assets", "environment_order"})
    if extra:
        raise MaintenanceConfigError(f"{where}: unknown key(s) {extra} in [promotion]")
    extra = sorted(set(canary) - {"tolerance", "slice"})
    if extra:
        raise MaintenanceConfigError(f"{where}: unknown key(s) {extra} in [canary]")
    sensitive = promotion.get("sensitive_assets", [])
    order = promotion.get("environment_order", [])
    if not isinstance(sensitive, list) or not all(isinstance(s, str) for s in sensitive):
        raise MaintenanceConfigError(f"{where}: [promotion] sensitive_assets must be a list of asset keys")
    if not isinstance(order, list) or len(order) < 2 or len(set(order)) != len(order):
        raise MaintenanceConfigError(f"{where}: [promotion] environment_order must name 2+ environments")
    slice_config = _build(SliceConfig, _section(data, "canary.slice", where), "canary.slice", where)
    if slice_config.holiday_calendar not in HOLIDAY_CALENDARS:
        raise MaintenanceConfigError(
            f"{where}: [canary.slice] holiday_calendar must be one of {HOLIDAY_CALENDARS}"
        )
    return MaintenanceConfig(
        promotion=tolerances["promotion"],
        canary=tolerances["canary"],
        sensitive_assets=frozenset(sensitive),
        environment_order=tuple(order),
        canary_slice=slice_config,
        source=where,
    )


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
