"""Daily delay scores: every flight of a day with its delay probability from the published model.

A day is scored by the published model of the week it falls in (trained only on days
before that week); the scores' manifest names that model version among its upstream
versions, and every row carries it too. Scores follow new feature partitions
(automation) but not model releases: a retrained or rolled-back model scores the
days that arrive after it, and a past day is rescored only on request, so a stored
score is always what was predicted at the time.

Checks, each judged on the version a run wrote, then published when none blocks:
`every_flight_scored` and `probabilities_valid` block; `feature_drift` (population
stability index of each feature against the model's training window) warns."""

# No `from __future__ import annotations`: Dagster reads the check's context annotation.
from collections.abc import Iterator
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from platform_assets.domains.flights import model
from platform_assets.domains.flights.config import DAILY, DOMAIN, domain_config
from platform_assets.lake.history import record_audit
from platform_assets.lake.io_manager import PUBLISH_AFTER_AUDIT, PUBLISH_POLICY_KEY
from platform_assets.lake.versions import RawFile, StalePublishError, VersionStore
from platform_assets.ml import drift, serialise
from platform_assets.ml.gate import run_version
from platform_assets.quality.outcome import ERROR, WARN, Judged, Outcome, check_result, not_evaluated

SCORES_KEY = ("serving", "delay_scores")
SCORES_CODE_VERSION = "1"
CHECK_EVERY_FLIGHT = "every_flight_scored"
CHECK_PROBABILITIES = "probabilities_valid"
CHECK_DRIFT = "feature_drift"
SCORE_CHECKS = (CHECK_EVERY_FLIGHT, CHECK_PROBABILITIES, CHECK_DRIFT)
_ID_COLUMNS = ["flight_id", "date", "carrier", "origin", "dest", "sched_dep_hour_local"]
_FEATURES_IN = sorted({*_ID_COLUMNS, *model.FEATURE_COLUMNS})


def scores_follow_features() -> dg.AutomationCondition:
    """Rebuild a day when its feature partition is updated (not when a model is released).

    The platform's `parents_ready` brakes apply, except that only the features' audit
    must have passed: a model whose gate refused a retrain is still published (the
    previous version), so a refused retrain must not stop new days from being scored."""
    AC = dg.AutomationCondition
    features = dg.AssetSelection.assets(list(model.FEATURES_KEY))
    updated = AC.any_deps_match(AC.newly_updated() & ~AC.executed_with_root_target()).allow(features)
    audited = AC.all_deps_match(
        AC.all_checks_match(AC.check_passed() | AC.will_be_requested(), blocking_only=True)
    ).allow(features)
    ready = (
        ~AC.any_deps_missing()
        & ~AC.any_deps_match(AC.will_be_requested()).with_label("parent_requested_this_tick")
        & ~AC.any_deps_match(AC.run_in_progress()).with_label("parent_running")
        & audited.with_label("features_audit_passed")
        & ~AC.in_progress()
    ).with_label("parents_ready")
    return (updated.with_label("features_updated").since_last_handled() & ready).with_label(
        "scores_follow_features"
    )


def score_day(features: pd.DataFrame, model_file: RawFile, model_manifest: dict[str, Any]) -> pd.DataFrame:
    """One row per flight of the day, with the model version that scored it."""
    estimator = serialise.loads(model_file.data)
    ordered = features.sort_values(["sched_dep_hour_local", "flight_id"], kind="stable").reset_index(
        drop=True
    )
    out = ordered[_ID_COLUMNS].copy()
    out["delay_probability"] = (
        model.predict(estimator, ordered) if len(ordered) else np.array([], dtype=float)
    )
    out["model_version"] = model_manifest["version"]
    out["model_week"] = model_manifest["partition"]
    return out


@dg.asset(
    key=list(SCORES_KEY),
    ins={
        "features": dg.AssetIn(key=list(model.FEATURES_KEY), metadata={"columns": _FEATURES_IN}),
        "delay_model": dg.AssetIn(key=list(model.MODEL_KEY)),
    },
    partitions_def=DAILY,
    group_name="ml",
    code_version=SCORES_CODE_VERSION,
    tags={"zone": "serving", "domain": DOMAIN},
    kinds={"sklearn", "parquet"},
    metadata={"partition_column": "date", PUBLISH_POLICY_KEY: PUBLISH_AFTER_AUDIT},
    automation_condition=scores_follow_features(),
    required_resource_keys={"lake"},
    description="Per flight of the day: the probability its arrival is more than 15 minutes late, from "
    "the published model of the day's week (version in each row and in the manifest).",
)
def delay_scores(
    context: dg.AssetExecutionContext, features: pd.DataFrame, delay_model: dict[str, RawFile]
) -> pd.DataFrame:
    ((week, model_file),) = delay_model.items()
    manifest = context.resources.lake.versions().resolve(model.MODEL_KEY, week)
    if manifest["content_hash"] != model_file.sha256:
        raise dg.Failure(f"ml/delay_model {week}: the pointer moved while scoring; run again")
    scores = score_day(features, model_file, manifest)
    context.add_output_metadata({"platform/model_version": manifest["version"], "platform/model_week": week})
    return scores


def _upstream(manifest: dict[str, Any], key: tuple[str, ...]) -> dict[str, Any] | None:
    name = "/".join(key)
    return next((u for u in manifest.get("upstream", []) if u["asset"] == name), None)


class ScoreAudit:
    """Judges one run's score versions against the features they were built from."""

    def __init__(self, store: VersionStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        settings = domain_config()["scores"]
        self.psi_warn = float(settings["drift_psi_warn"])
        self.watched = list(settings["drift_features"])
        unknown = sorted(set(self.watched) - set(model.FEATURE_COLUMNS))
        if unknown:
            raise ValueError(f"flights.toml [scores] drift_features: {unknown} are not model features")

    def judge(self, day: str) -> list[Judged]:
        version = run_version(self.store, SCORES_KEY, day, self.run_id)
        pending = version is not None
        version = version or self.store.published_version(SCORES_KEY, day)
        if version is None:
            return [Judged(day, None, False, not_evaluated(n, "no scores version")) for n in SCORE_CHECKS]
        manifest = self.store.manifest(SCORES_KEY, day, version)
        scores = self.store.read_table(manifest).to_pandas()
        read = _upstream(manifest, model.FEATURES_KEY)
        features = self.store.read_table(
            self.store.resolve(model.FEATURES_KEY, day, read and read["version"])
        )
        frame = features.to_pandas()
        outcomes = [
            self._every_flight(scores, frame),
            self._probabilities(scores),
            self._drift(manifest, frame),
        ]
        passed = not any(o.blocks for o in outcomes)
        published = passed or not pending
        if pending:
            checks = {o.check: o.record() for o in outcomes}
            record_audit(self.store, SCORES_KEY, day, version, passed=passed, checks=checks)
            if passed:
                summary = {"audit": "passed", "warnings": [o.check for o in outcomes if not o.passed]}
                try:
                    self.store.publish(SCORES_KEY, day, version, actor=f"run:{self.run_id}", checks=summary)
                except StalePublishError:
                    published = False  # a later run's scores of this day were published first
        return [Judged(day, version, published, o) for o in outcomes]

    @staticmethod
    def _every_flight(scores: pd.DataFrame, features: pd.DataFrame) -> Outcome:
        expected, got = set(features["flight_id"]), scores["flight_id"]
        missing = sorted(expected - set(got))
        extra = sorted(set(got) - expected)
        repeated = int(got.duplicated().sum())
        passed = not missing and not extra and not repeated
        metadata = {
            "flights": len(expected),
            "scored": len(got),
            "missing": len(missing),
            "unknown": len(extra),
        }
        metadata["repeated"] = repeated
        sample = [{"flight_id": f, "problem": "not scored"} for f in missing[:10]]
        sample += [{"flight_id": f, "problem": "not a flight of the day"} for f in extra[:10]]
        description = f"{len(got)} scores for {len(expected)} flights ({len(missing)} missing, {len(extra)} "
        description += f"unknown, {repeated} repeated)"
        return Outcome(CHECK_EVERY_FLIGHT, passed, ERROR, description, metadata, sample)

    @staticmethod
    def _probabilities(scores: pd.DataFrame) -> Outcome:
        p = pd.to_numeric(scores["delay_probability"], errors="coerce")
        bad = p.isna() | (p < 0) | (p > 1)
        flagged = zip(scores.loc[bad, "flight_id"], scores.loc[bad, "delay_probability"], strict=True)
        sample = [{"flight_id": f, "delay_probability": str(v)} for f, v in list(flagged)[:10]]
        metadata = {"invalid": int(bad.sum()), "min": float(p.min()) if len(p) else 0.0}
        metadata["max"] = float(p.max()) if len(p) else 0.0
        description = f"{int(bad.sum())} of {len(p)} probabilities missing or outside [0, 1]"
        return Outcome(CHECK_PROBABILITIES, not bad.any(), ERROR, description, metadata, sample)

    def _drift(self, manifest: dict[str, Any], features: pd.DataFrame) -> Outcome:
        used = _upstream(manifest, model.MODEL_KEY)
        if used is None:
            return not_evaluated(CHECK_DRIFT, "the scores name no model version")
        trained = self.store.manifest(model.MODEL_KEY, used["partition"], used["version"])
        profile = trained["model"]["training_profile"]
        watched = {"features": {k: v for k, v in profile["features"].items() if k in self.watched}}
        values = drift.feature_psi(watched, model.model_frame(features))
        drifted = {k: v for k, v in values.items() if v > self.psi_warn}
        worst = max(values, key=values.get) if values else ""
        metadata = {
            "psi": values,
            "psi_warn": self.psi_warn,
            "model_version": used["version"],
            "drifted": drifted,
        }
        description = (
            f"{len(drifted)} feature(s) drifted past PSI {self.psi_warn} against the model's training window"
            + (
                f": {', '.join(sorted(drifted))}"
                if drifted
                else f" (largest: {worst} {values.get(worst, 0):.3f})"
            )
        )
        sample = [{"feature": k, "psi": v} for k, v in sorted(drifted.items(), key=lambda kv: -kv[1])]
        return Outcome(CHECK_DRIFT, not drifted, WARN, description, metadata, sample)


def score_checks() -> dg.AssetChecksDefinition:
    key = dg.AssetKey(list(SCORES_KEY))
    descriptions = {
        CHECK_EVERY_FLIGHT: "One score per flight of the day's published features, none extra.",
        CHECK_PROBABILITIES: "Every probability present and within [0, 1].",
        CHECK_DRIFT: "Population stability index of each feature vs the model's training window (warns).",
    }
    specs = [
        dg.AssetCheckSpec(n, asset=key, blocking=n != CHECK_DRIFT, description=descriptions[n])
        for n in SCORE_CHECKS
    ]

    @dg.multi_asset_check(
        specs=specs,
        name="audit_serving__delay_scores",
        required_resource_keys={"lake"},
        description="Audits each new scores version and publishes it when no blocking check fails.",
    )
    def _audit(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        op = context.op_execution_context
        audit = ScoreAudit(context.resources.lake.versions(), op.run_id)
        judged: dict[str, list[Judged]] = {n: [] for n in SCORE_CHECKS}
        for day in sorted(op.partition_keys):
            for one in audit.judge(day):
                judged[one.outcome.check].append(one)
        for name in SCORE_CHECKS:
            yield check_result(key, name, judged[name], sample_rows=20)

    return _audit
