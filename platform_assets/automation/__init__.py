"""The platform runs itself: landing sensor, propagation, freshness, alerts.

Nothing here knows a domain. The landing sensor watches whatever raw assets declare
a landing dataset; conditions and freshness policies are chosen by an asset's
`zone` tag; sensors carry the zone as a run tag, which `dagster.yaml` limits per
zone. `definitions.py` wires it with two calls: `platform_policies` mapped over the
assets, and `platform_sensors`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from platform_assets.automation.alerts import build_freshness_alert_sensor, build_run_failure_sensor
from platform_assets.automation.conditions import PROPAGATED_ZONES, ZONE_TAG, apply_platform_policies
from platform_assets.automation.config import AutomationSettings
from platform_assets.automation.landing_scan import landing_datasets
from platform_assets.automation.landing_sensor import build_landing_sensor
from platform_assets.automation.landing_through import zone_plan

__all__ = ["AutomationSettings", "platform_policies", "platform_sensors", "zone_automation_sensor_name"]


def platform_policies(settings: AutomationSettings) -> Callable[[dg.AssetSpec], dg.AssetSpec]:
    """The spec mapper that gives each asset its zone's automation condition and freshness policy."""
    return lambda spec: apply_platform_policies(spec, settings.freshness)


def zone_automation_sensor_name(zone: str) -> str:
    return f"{zone}_automation"


def _zone_automation_sensor(
    zone: str, settings: AutomationSettings
) -> dg.AutomationConditionSensorDefinition:
    """One automation sensor per zone, so every run it starts carries that zone's tag.

    A single sensor could only stamp one set of run tags; per-zone sensors let the
    run queue's `zone` concurrency limit apply to automated runs and backfills."""
    return dg.AutomationConditionSensorDefinition(
        name=zone_automation_sensor_name(zone),
        target=dg.AssetSelection.tag(ZONE_TAG, zone),
        run_tags={ZONE_TAG: zone},
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.automation_interval_s,
        description=f"Rebuilds {zone} partitions when their parents change or they go stale.",
    )


def platform_sensors(assets: Sequence[Any], settings: AutomationSettings) -> list[dg.SensorDefinition]:
    """Landing, per-zone automation, run-failure and freshness-alert sensors, all on by default."""
    return [
        build_landing_sensor(landing_datasets(assets), settings, zone_plan(assets)),
        *(_zone_automation_sensor(zone, settings) for zone in PROPAGATED_ZONES),
        build_run_failure_sensor(settings),
        build_freshness_alert_sensor(settings),
    ]
