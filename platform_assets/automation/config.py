"""The automation layer's constants, read from automation.toml when definitions are built.

Read by `AutomationSettings.load()` from `build_definitions`, never at import time,
so tests build definitions with their own settings (a one-minute freshness window,
a two-second sensor interval) without reloading modules."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from importlib import resources
from typing import Any

import dagster as dg

from platform_assets.automation.landing_rules import CompletionRule, CompletionRuleError

SENSOR_INTERVAL_ENV = "PLATFORM_SENSOR_INTERVAL_SECONDS"
CONFIG_FILE = "automation.toml"


class AutomationConfigError(ValueError):
    """automation.toml (or an override) does not describe a usable configuration."""


@dataclass(frozen=True)
class ZoneFreshness:
    """One zone's freshness expectation, in either of Dagster's two policy shapes."""

    fail_window_minutes: float | None = None
    warn_window_minutes: float | None = None
    cron: str | None = None
    cron_lower_bound_minutes: float | None = None
    timezone: str = "UTC"

    def policy(self) -> dg.FreshnessPolicy:
        if self.cron:
            lower = timedelta(minutes=self.cron_lower_bound_minutes or 60)
            return dg.FreshnessPolicy.cron(
                deadline_cron=self.cron, lower_bound_delta=lower, timezone=self.timezone
            )
        if not self.fail_window_minutes:
            raise AutomationConfigError("a freshness zone needs fail_window_minutes or cron")
        warn = timedelta(minutes=self.warn_window_minutes) if self.warn_window_minutes else None
        return dg.FreshnessPolicy.time_window(
            fail_window=timedelta(minutes=self.fail_window_minutes), warn_window=warn
        )


@dataclass(frozen=True)
class AutomationSettings:
    landing_interval_s: int = 10
    automation_interval_s: int = 10
    run_failure_interval_s: int = 15
    freshness_alert_interval_s: int = 60
    lookback_days: int = 7
    max_days_per_run: int = 31
    freshness: Mapping[str, ZoneFreshness] = field(default_factory=dict)
    alert_timeout_s: float = 5.0
    alert_attempts: int = 3
    completion: CompletionRule = field(default_factory=CompletionRule)
    dataset_completion: Mapping[str, CompletionRule] = field(default_factory=dict)
    stale_temporary_minutes: float = 60.0
    sweep_interval_minutes: float = 60.0
    through_zones: bool = True

    def completion_for(self, dataset: str) -> CompletionRule:
        """The dataset's own completion rule, else the landing default."""
        return self.dataset_completion.get(dataset, self.completion)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> AutomationSettings:
        """automation.toml, with `PLATFORM_SENSOR_INTERVAL_SECONDS` overriding every interval."""
        environ = os.environ if environ is None else environ
        text = resources.files(__package__).joinpath(CONFIG_FILE).read_text()
        settings = cls.from_mapping(tomllib.loads(text))
        override = environ.get(SENSOR_INTERVAL_ENV, "").strip()
        if override:
            seconds = int(override)
            if seconds < 1:
                raise AutomationConfigError(f"{SENSOR_INTERVAL_ENV} must be a positive number of seconds")
            settings = settings.with_sensor_interval(seconds)
        return settings

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> AutomationSettings:
        sensors = config.get("sensors", {})
        landing = config.get("landing", {})
        alerts = config.get("alerts", {})
        settings = cls(
            landing_interval_s=int(sensors.get("landing_interval_seconds", 10)),
            automation_interval_s=int(sensors.get("automation_interval_seconds", 10)),
            run_failure_interval_s=int(sensors.get("run_failure_interval_seconds", 15)),
            freshness_alert_interval_s=int(sensors.get("freshness_alert_interval_seconds", 60)),
            lookback_days=int(landing.get("lookback_days", 7)),
            max_days_per_run=int(landing.get("max_days_per_run", 31)),
            freshness={zone: ZoneFreshness(**values) for zone, values in config.get("freshness", {}).items()},
            alert_timeout_s=float(alerts.get("timeout_seconds", 5)),
            alert_attempts=int(alerts.get("attempts", 3)),
            **_landing_completion(landing),
        )
        if settings.stale_temporary_minutes < 0 or settings.sweep_interval_minutes < 0:
            raise AutomationConfigError(
                "[landing] stale_temporary_minutes and sweep_interval_minutes must be >= 0"
            )
        if settings.lookback_days < 0 or settings.max_days_per_run < 1 or settings.alert_attempts < 1:
            raise AutomationConfigError("lookback_days >= 0, max_days_per_run >= 1, attempts >= 1")
        for zone in settings.freshness.values():
            zone.policy()  # fail on a bad policy when definitions load, not on the first tick
        return settings

    def with_sensor_interval(self, seconds: int) -> AutomationSettings:
        return replace(
            self,
            landing_interval_s=seconds,
            automation_interval_s=seconds,
            run_failure_interval_s=seconds,
            freshness_alert_interval_s=seconds,
        )


_LANDING_KEYS = {
    "lookback_days",
    "max_days_per_run",
    "completion",
    "marker_suffix",
    "stale_temporary_minutes",
    "sweep_interval_minutes",
    "datasets",
    "through_zones",
}
_DATASET_KEYS = {"completion", "marker_suffix"}


def _landing_completion(landing: Mapping[str, Any]) -> dict[str, Any]:
    """The `[landing]` completion keys, refusing any key the sensor would not apply.

    An unknown key is most likely a typo of one that matters (a dataset written in
    place whose `completion` went unread would be ingested half-written), so it fails."""
    unknown = sorted(set(landing) - _LANDING_KEYS)
    if unknown:
        raise AutomationConfigError(f"[landing] has unknown key(s) {', '.join(unknown)}")
    try:
        default = CompletionRule(
            str(landing.get("completion", "atomic")), str(landing.get("marker_suffix", ".done"))
        )
        per_dataset = {}
        for name, values in dict(landing.get("datasets", {})).items():
            extra = sorted(set(values) - _DATASET_KEYS)
            if extra:
                raise AutomationConfigError(
                    f"[landing.datasets.{name}] has unknown key(s) {', '.join(extra)}"
                )
            per_dataset[name] = CompletionRule(
                str(values.get("completion", default.rule)),
                str(values.get("marker_suffix", default.marker_suffix)),
            )
    except CompletionRuleError as error:
        raise AutomationConfigError(f"[landing] {error}") from None
    return {
        "completion": default,
        "dataset_completion": per_dataset,
        "stale_temporary_minutes": float(landing.get("stale_temporary_minutes", 60)),
        "sweep_interval_minutes": float(landing.get("sweep_interval_minutes", 60)),
        "through_zones": _flag(landing, "through_zones", True),
    }


def _flag(section: Mapping[str, Any], key: str, default: bool) -> bool:
    """A true/false key: TOML booleans only, so `"false"` (a string, truthy) cannot slip through."""
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise AutomationConfigError(f"[landing] {key} must be true or false, not {value!r}")
    return value
