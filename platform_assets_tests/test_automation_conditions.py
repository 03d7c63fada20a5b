"""Propagation and freshness conditions, evaluated as the daemon would against a real instance.

(No `from __future__ import annotations`: Dagster reads the context annotations at definition time.)"""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.automation import platform_policies
from platform_assets.automation.alerts import (
    FRESHNESS_ALERT_SENSOR_NAME,
    KIND_STALE_NOTHING_LANDED,
)
from platform_assets.automation.config import AutomationSettings, ZoneFreshness
from platform_assets.definitions import build_definitions
from platform_assets_tests.conftest import local_lake
from platform_assets_tests.pipeline import land_days, materialize_daily, materialize_reference
from platform_assets_tests.webhook import Webhook

pytestmark = pytest.mark.integration

DAY = "2013-02-01"
SERVING = ["carrier_daily_performance", "route_daily", "flight_delay_features"]
FEATURES = "serving/flight_delay_features"  # the serving asset that reads curated weather
FRESHNESS = AutomationSettings(
    freshness={"serving": ZoneFreshness(fail_window_minutes=2, warn_window_minutes=1)}
)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def requested(result: dg.EvaluateAutomationConditionsResult, defs: dg.Definitions) -> dict[str, set]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): set(result.get_requested_partitions(key))
        for key in graph.get_all_asset_keys()
        if result.get_num_requested(key)
    }


# A small graph to pin the brakes down: raw/x (audited by a blocking check) -> curated/y.
TOY_DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-10")
verdicts: dict[str, bool] = {}
probes: list[Any] = []


@dg.asset(key=["raw", "x"], partitions_def=TOY_DAYS, tags={"zone": "raw"})
def raw_x() -> dg.MaterializeResult:
    for probe in probes:  # evaluate conditions while this run is in progress
        probe()
    return dg.MaterializeResult()


@dg.asset_check(asset=raw_x, blocking=True)
def raw_x_audit(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=verdicts[context.run.tags["dagster/partition"]])


@dg.asset(key=["curated", "y"], deps=[raw_x], partitions_def=TOY_DAYS, tags={"zone": "curated"})
def curated_y() -> dg.MaterializeResult:
    return dg.MaterializeResult()


def test_propagation_waits_for_a_passing_audit_and_a_finished_parent(instance: dg.DagsterInstance) -> None:
    defs = dg.Definitions(
        assets=dg.map_asset_specs(platform_policies(AutomationSettings()), [raw_x, curated_y]),
        asset_checks=[raw_x_audit],
    )
    ticks = [dg.evaluate_automation_conditions(defs=defs, instance=instance)]

    def tick() -> dict[str, set]:
        ticks.append(dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=ticks[-1].cursor))
        return requested(ticks[-1], defs)

    def ingest(day: str, passes: bool) -> None:
        verdicts[day] = passes
        result = dg.materialize(
            [raw_x, raw_x_audit], partition_key=day, instance=instance, raise_on_error=False
        )
        assert result.success == passes  # a failed blocking check fails the run

    ingest("2024-01-02", passes=True)
    assert tick() == {"curated/y": {"2024-01-02"}}
    assert tick() == {}
    ingest("2024-01-03", passes=False)
    assert tick() == {}  # its audit failed: the child is not built on the unpublished version
    assert tick() == {}
    ingest("2024-01-03", passes=True)  # the corrected day passes its audit
    assert tick() == {"curated/y": {"2024-01-03"}}

    seen_while_running: list[dict[str, set]] = []
    probes.append(lambda: seen_while_running.append(tick()))
    try:
        ingest("2024-01-03", passes=True)  # a second update; the probe ticks mid-run
    finally:
        probes.clear()
    assert seen_while_running == [{}]  # nothing while the parent is running
    assert tick() == {"curated/y": {"2024-01-03"}}


def _record_freshness(defs: dg.Definitions, instance: dg.DagsterInstance, at: datetime) -> None:
    """Run Dagster's own freshness evaluation (what its daemon does) with the clock at `at`."""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
    from dagster._core.test_utils import freeze_time
    from dagster._daemon.freshness import FreshnessDaemon

    graph = defs.resolve_asset_graph()

    async def evaluate() -> None:
        view = AssetGraphView.for_test(defs, instance)
        daemon = FreshnessDaemon()
        for key in graph.get_all_asset_keys():
            await daemon._evaluate_asset(view, graph.get(key))  # noqa: SLF001

    with freeze_time(at):
        asyncio.run(evaluate())


def _freshness_alert(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None) -> str | None:
    sensor = defs.resolve_sensor_def(FRESHNESS_ALERT_SENSOR_NAME)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    sensor(context)
    return context.cursor


def test_stale_serving_assets_are_rebuilt_only_when_behind_their_parents(
    tmp_path: Path,
    instance: dg.DagsterInstance,
    webhook: Webhook,
) -> None:
    lake = local_lake(tmp_path)
    land_days(lake, DAY, DAY)
    materialize_reference(lake, instance)
    materialize_daily(lake, instance, DAY)
    defs = build_definitions(lake.resource, FRESHNESS)
    graph = defs.resolve_asset_graph()
    assert all(graph.get(dg.AssetKey(["serving", name])).freshness_policy for name in SERVING)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert result.total_requested == 0  # everything is built

    # Curated weather is rebuilt: only the serving asset built from it is asked for, once...
    dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=[dg.AssetKey(["curated", "weather"])],
        partition_key=DAY,
        resources=defs.resources,
        instance=instance,
    )
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert requested(result, defs) == {FEATURES: {DAY}}
    # ...and that run never happens (it failed, or the sensor was off): nothing asks again.
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert result.total_requested == 0

    # Minutes later every serving asset fails freshness. Only the one behind its parent is
    # rebuilt; the other two are stale because nothing new landed, and that pages instead.
    later = datetime.now(UTC) + timedelta(minutes=5)
    _record_freshness(defs, instance, later)
    result = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=result.cursor, evaluation_time=later
    )
    assert requested(result, defs) == {FEATURES: {DAY}}
    result = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=result.cursor, evaluation_time=later + timedelta(seconds=30)
    )
    assert result.total_requested == 0  # one rebuild per stale episode, not one per tick
    cursor = _freshness_alert(defs, instance, None)
    alerts = {a["asset"]: a for a in webhook.received}
    assert set(alerts) == {"serving/carrier_daily_performance", "serving/route_daily"}
    alert = alerts["serving/route_daily"]
    assert alert["kind"] == KIND_STALE_NOTHING_LANDED and alert["newer_parents"] == []
    assert alert["last_ingested_at"] and "nothing new landed" in alert["text"]

    # The rebuild runs; much later the features are stale again, now with nothing newer upstream.
    dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=[dg.AssetKey.from_user_string(FEATURES)],
        partition_key=DAY,
        resources=defs.resources,
        instance=instance,
    )
    _record_freshness(defs, instance, datetime.now(UTC))
    much_later = later + timedelta(minutes=5)
    _record_freshness(defs, instance, much_later)
    result = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=result.cursor, evaluation_time=much_later
    )
    assert result.total_requested == 0  # no rebuild can help
    webhook.received.clear()
    cursor = _freshness_alert(defs, instance, cursor)
    assert {a["asset"] for a in webhook.received} == {f"serving/{name}" for name in SERVING}
    assert {a["kind"] for a in webhook.received} == {KIND_STALE_NOTHING_LANDED}
    _freshness_alert(defs, instance, cursor)
    assert len(webhook.received) == len(SERVING)  # each stale episode pages once
