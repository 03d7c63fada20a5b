"""When the delay model is retrained: each new week, and when a day's scores warn of drift.

Both only request a run of the training job, whose gate checks decide whether the new
version is published; nothing here moves a pointer, so a retrain never replaces the
published model without passing the gate.

The week is driven by data time, not the wall clock: the model of week W is requested
once the features of W's eve (the Sunday before) are published. That works the same
for a live feed and for a replay of 2013, where a cron schedule would never fire.

A drift warning on day D (some feature's PSI past `drift_psi_warn`, see scores.py)
requests a retrain of D's week through D, so the days after D are scored by a model
that has seen the shift; a drift on the week's last day waits for next week's model."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import dagster as dg

from platform_assets.domains.flights import model
from platform_assets.domains.flights.scores import CHECK_DRIFT, SCORES_KEY
from platform_assets.lake import layout
from platform_assets.lake.history import audit_status
from platform_assets.lake.versions import VersionStore

TRAINING_JOB_NAME = "delay_model_training"
SENSOR_NAME = "delay_model_retrain"
MIN_INTERVAL_S = 300

training_job = dg.define_asset_job(
    TRAINING_JOB_NAME,
    selection=dg.AssetSelection.assets(list(model.MODEL_KEY), list(model.EVALUATION_KEY)),
    # A refused gate is a verdict, not a transient fault: a retry would re-judge the
    # published model instead and turn the run green.
    tags={"zone": "ml", "dagster/max_retries": "0"},
    description="Train a week's delay model; its gate checks publish it only with evidence.",
)


def _week_of(day: date) -> str | None:
    first = date.fromisoformat(model.MODEL["first_week"])
    if day < first:
        return None
    week = first + timedelta(days=7 * ((day - first).days // 7))
    key = week.isoformat()
    return key if model.WEEKLY.has_partition_key(key) else None


def weekly_requests(store: VersionStore, requested: set[str]) -> list[dg.RunRequest]:
    """One request per week that has no model yet and whose default window can train one:
    every held-out day (up to the week's eve) published and at least one training day."""
    written_days = set(store.partitions(model.FEATURES_KEY))
    out = []
    for week in model.WEEKLY.get_partition_keys():
        train_days, holdout_days = model.window_days(week, model.DelayModelConfig())
        if week in requested or not set(holdout_days) <= written_days:
            continue
        if not any(d in written_days and store.published_version(model.FEATURES_KEY, d) for d in train_days):
            continue
        if any(store.published_version(model.FEATURES_KEY, d) is None for d in holdout_days):
            continue
        if store.versions(model.MODEL_KEY, week):
            continue
        out.append(dg.RunRequest(run_key=f"weekly-{week}", partition_key=week, tags={"retrain": "weekly"}))
    return out


def drift_requests(store: VersionStore, after: str) -> tuple[list[dg.RunRequest], str]:
    """Retrain requests for days after `after` whose published scores warned of drift."""
    out, newest = [], after
    for day in (d for d in store.partitions(SCORES_KEY) if d > after):
        version = store.published_version(SCORES_KEY, day)
        if version is None:
            continue
        newest = max(newest, day)
        record = audit_status(store.storage, layout.version_path(SCORES_KEY, day, version)) or {}
        verdict = record.get("checks", {}).get(CHECK_DRIFT, {})
        week = _week_of(date.fromisoformat(day))
        if verdict.get("passed") is not False or week is None:
            continue
        if date.fromisoformat(day) >= date.fromisoformat(week) + timedelta(days=6):
            continue  # the week's last day: next week's model is about to be trained anyway
        drifted = sorted(verdict.get("metadata", {}).get("drifted", {}))
        config = {"ops": {"delay_model": {"config": {"through": day}}}}
        tags = {"retrain": "drift", "drifted_day": day, "drifted_features": ",".join(drifted)[:200]}
        out.append(dg.RunRequest(run_key=f"drift-{day}", partition_key=week, run_config=config, tags=tags))
    return out, newest


@dg.sensor(
    name=SENSOR_NAME,
    job=training_job,
    minimum_interval_seconds=MIN_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    required_resource_keys={"lake"},
    description="Requests a week's model when its eve's features are published, and a retrain when "
    "a day's scores warn of feature drift. The gate decides what is published.",
)
def delay_model_retrain(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    state: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
    store = context.resources.lake.versions()
    requested = set(state.get("weeks", []))
    weekly = weekly_requests(store, requested)
    drifted, newest = drift_requests(store, state.get("drift_after", ""))
    state = {"weeks": sorted(requested | {r.partition_key for r in weekly}), "drift_after": newest}
    return dg.SensorResult(run_requests=[*weekly, *drifted], cursor=json.dumps(state))


retrain_sensors = [delay_model_retrain]
