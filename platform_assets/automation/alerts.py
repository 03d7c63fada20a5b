"""Telling a person: failed runs and stale data, as a JSON POST and a structured log.

Every alert is logged as a structured record. When `PLATFORM_ALERT_WEBHOOK` is set
(read when an alert is sent, never at import), the same record is POSTed to it as
JSON; a `text` field carries a one-line summary so a Slack or Teams incoming
webhook shows something readable without a translation layer.

What pages and what does not:

* A run that failed and will not be retried pages. A failure the run-retry daemon
  will retry (`dagster/will_retry=true`) is only logged: the retry's own failure
  pages if it fails too.
* An asset failing freshness is diagnosed first. If a parent has newer data, the
  asset is "stale because we did not rebuild": automation requests the rebuild
  (see `conditions.py`), and this is logged, not paged. If no parent has newer data,
  it is "stale because nothing new landed": no rebuild can help, the source is
  late or broken, and that pages, naming when data last landed."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import dagster as dg

from platform_assets import logs
from platform_assets.automation.conditions import RAW_ZONE, ZONE_TAG
from platform_assets.automation.config import AutomationSettings
from platform_assets.automation.landing_sensor import RANGE_END_TAG, RANGE_START_TAG

WEBHOOK_ENV = "PLATFORM_ALERT_WEBHOOK"
RUN_FAILURE_SENSOR_NAME = "run_failure_alert"
FRESHNESS_ALERT_SENSOR_NAME = "freshness_alert"
SOURCE = "platform_assets"
KIND_RUN_FAILURE = "run_failure"
KIND_STALE_NOTHING_LANDED = "stale_nothing_new_landed"
KIND_STALE_NOT_REBUILT = "stale_not_rebuilt"
KIND_LANDING_REJECTED = "landing_rejected"
WILL_RETRY_TAG = "dagster/will_retry"
RETRY_NUMBER_TAG = "dagster/retry_number"
PARTITION_TAG = "dagster/partition"
SENSOR_TAG = "dagster/sensor_name"
_MAX_ERROR_CHARS = 2000
FRESHNESS_FAIL = "FAIL"  # dagster's FreshnessState is a str enum that is not exported


class AlertDeliveryError(RuntimeError):
    """The webhook did not accept the alert after every attempt."""


def _webhook() -> str | None:
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        return None
    if urlparse(url).scheme not in ("http", "https"):
        raise AlertDeliveryError(f"{WEBHOOK_ENV} must be an http(s) URL")
    return url


def _post(url: str, body: bytes, timeout_s: float) -> int:
    # Only http(s) URLs get here (`_webhook`), so urlopen cannot be pointed at a local file.
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return response.status


def send_alert(payload: Mapping[str, Any], settings: AutomationSettings | None = None) -> bool:
    """Log the alert; POST it to the webhook when one is configured. Returns whether it was posted.

    Raises `AlertDeliveryError` when a configured webhook keeps refusing: the sensor
    tick then shows the error, and the failed run's log records it."""
    settings = settings or AutomationSettings()
    entry = logs.emit("alert", level=logging.ERROR, **payload)
    url = _webhook()
    if url is None:
        return False
    body = json.dumps(entry, default=str, sort_keys=True).encode()
    last_error: Exception | None = None
    for attempt in range(settings.alert_attempts):
        try:
            status = _post(url, body, settings.alert_timeout_s)
            if 200 <= status < 300:
                return True
            last_error = AlertDeliveryError(f"webhook answered HTTP {status}")
        except (urllib.error.URLError, OSError) as error:
            last_error = error
        if attempt + 1 < settings.alert_attempts:
            time.sleep(min(2.0, 0.25 * 2**attempt))
    host = urlparse(url).hostname  # never log the full URL: it often embeds a token
    logs.emit("alert_undelivered", level=logging.ERROR, webhook_host=host, error=str(last_error))
    raise AlertDeliveryError(f"alert not delivered to {host}: {last_error}")


def landing_rejected_payload(rejected: Sequence[Any]) -> dict[str, Any]:
    """One alert for the landing entries a sensor tick rejected (each is alerted once)."""
    shown = [{"path": r.path, "reason": r.reason, "link_target": r.target} for r in rejected[:50]]
    first = rejected[0]
    more = f" and {len(rejected) - 1} more" if len(rejected) > 1 else ""
    return {
        "source": SOURCE,
        "kind": KIND_LANDING_REJECTED,
        "severity": "warning",
        "text": f"landing: rejected {first.path} ({first.reason}){more}; moved to landing/_rejected/",
        "count": len(rejected),
        "files": shown,
        "at": _now(),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _root_cause(error: Any) -> str:
    """The innermost error's message: the user's exception, not Dagster's wrapper of it."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return str(getattr(error, "message", error)).strip()


def _run_assets(context: dg.RunFailureSensorContext) -> set[dg.AssetKey]:
    """The assets the run set out to materialize: its selection, else what it planned."""
    run = context.dagster_run
    if run.asset_selection:
        return set(run.asset_selection)
    planned = context.instance.get_records_for_run(
        run_id=run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    )
    events = (record.event_log_entry.dagster_event for record in planned.records)
    return {event.asset_key for event in events if event is not None and event.asset_key is not None}


def run_failure_payload(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    """The facts an on-call engineer needs first: what failed, where, and the error."""
    run = context.dagster_run
    tags = run.tags
    errors = [
        f"{event.step_key}: {_root_cause(event.event_specific_data.error)}"  # type: ignore[union-attr]
        for event in context.get_step_failure_events()
        if event.event_specific_data is not None and getattr(event.event_specific_data, "error", None)
    ]
    assets = sorted(key.to_user_string() for key in _run_assets(context))
    partition = tags.get(PARTITION_TAG) or (
        f"{tags[RANGE_START_TAG]}..{tags[RANGE_END_TAG]}" if RANGE_START_TAG in tags else None
    )
    error = "\n".join(errors) or (context.failure_event.message or "run failed")
    where = f" [{partition}]" if partition else ""
    return {
        "source": SOURCE,
        "kind": KIND_RUN_FAILURE,
        "severity": "error",
        "text": f"Run {run.run_id[:8]} failed: {', '.join(assets) or run.job_name}{where}",
        "run_id": run.run_id,
        "job": run.job_name,
        "assets": assets,
        "partition": partition,
        "zone": tags.get(ZONE_TAG),
        "sensor": tags.get(SENSOR_TAG),
        "retry_number": int(tags.get(RETRY_NUMBER_TAG, 0)),
        "error": error[:_MAX_ERROR_CHARS],
        "ui_path": f"/runs/{run.run_id}",
        "at": _now(),
    }


def build_run_failure_sensor(settings: AutomationSettings) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR_NAME,
        minimum_interval_seconds=settings.run_failure_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Posts a JSON alert for every failed run that will not be retried.",
    )
    def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
        payload = run_failure_payload(context)
        if context.dagster_run.tags.get(WILL_RETRY_TAG) == "true":
            logs.emit("run_failed_will_retry", level=logging.WARNING, **payload)
            return
        send_alert(payload, settings)

    return run_failure_alert


def _materialized_at(instance: dg.DagsterInstance, key: dg.AssetKey) -> float | None:
    event = instance.get_latest_materialization_event(key)
    return event.timestamp if event else None


def diagnose_staleness(instance: dg.DagsterInstance, graph: Any, key: dg.AssetKey) -> dict[str, Any]:
    """Why an asset is stale: a parent newer than it (rebuild) or nothing new upstream (alert).

    "Newer" compares the latest materialization of each parent with the asset's own;
    the freshness rebuild condition compares partition by partition, which is finer,
    and this coarser view only chooses between paging and not."""
    own = _materialized_at(instance, key)
    newer = [
        parent.to_user_string()
        for parent in sorted(graph.get(key).parent_keys)
        if (stamp := _materialized_at(instance, parent)) is not None and (own is None or stamp > own)
    ]
    ancestors = graph.get_ancestor_asset_keys(key)
    raw_keys = [k for k in ancestors if graph.get(k).tags.get(ZONE_TAG) == RAW_ZONE]
    landed = [stamp for k in raw_keys if (stamp := _materialized_at(instance, k)) is not None]
    return {
        "kind": KIND_STALE_NOT_REBUILT if newer else KIND_STALE_NOTHING_LANDED,
        "newer_parents": newer,
        "last_materialized_at": _iso(own),
        "last_ingested_at": _iso(max(landed) if landed else None),
    }


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds") if stamp else None


def build_freshness_alert_sensor(settings: AutomationSettings) -> dg.SensorDefinition:
    @dg.sensor(
        name=FRESHNESS_ALERT_SENSOR_NAME,
        minimum_interval_seconds=settings.freshness_alert_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Alerts when an asset fails its freshness policy and no newer upstream data exists "
            "(nothing new landed); when newer data exists, automation rebuilds it instead."
        ),
    )
    def freshness_alert(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        graph = context.repository_def.asset_graph  # type: ignore[union-attr]
        keys = [node.key for node in graph.asset_nodes if node.freshness_policy is not None]
        handled: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
        records = context.instance.get_freshness_state_records(keys)
        alerted = 0
        for key, record in sorted(records.items()):
            name = key.to_user_string()
            stamp = record.updated_at.timestamp()
            if record.freshness_state != FRESHNESS_FAIL or handled.get(name, 0) >= stamp:
                continue
            diagnosis = diagnose_staleness(context.instance, graph, key)
            payload = {
                "source": SOURCE,
                "severity": "warning" if diagnosis["kind"] == KIND_STALE_NOT_REBUILT else "error",
                "text": f"{name} is stale: "
                + (
                    f"rebuilding from newer {', '.join(diagnosis['newer_parents'])}"
                    if diagnosis["newer_parents"]
                    else f"nothing new landed upstream since {diagnosis['last_ingested_at']}"
                ),
                "asset": name,
                "failing_since": _iso(stamp),
                "at": _now(),
                **diagnosis,
            }
            if diagnosis["kind"] == KIND_STALE_NOT_REBUILT:
                logs.emit("freshness_failed_rebuilding", level=logging.WARNING, **payload)
            else:
                send_alert(payload, settings)
                alerted += 1
            handled[name] = stamp
            context.update_cursor(json.dumps(handled, sort_keys=True))
        return dg.SkipReason(f"{alerted} freshness alert(s) sent")

    return freshness_alert
