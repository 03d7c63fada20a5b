"""The promotion gate: a new model version is published only with evidence.

Two blocking checks on each version a run wrote (oldest partition first):

* `beats_baseline`: held-out ROC AUC at least `min_roc_auc` and Brier skill over the
  base-rate baseline above `min_brier_skill`.
* `no_regression`: the currently published model (this partition's, else the newest
  earlier one) is scored on the candidate's own held-out rows; the candidate may be at
  most `max_roc_auc_drop` worse in AUC and `max_brier_rise` worse in Brier score.

Both pass: the model and its evaluation table are published together (the same
pointer move as for data, so rollback is `platform rollback ml/<model>`). Either
fails: both stay unpublished, the verdict with every number is written to
`_audit.json` beside each, and readers and scorers keep the previous model.
A run that only executes the checks re-judges the published version and never
moves a pointer."""

# No `from __future__ import annotations`: Dagster reads the check's context annotation.
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from platform_assets.lake.history import record_audit
from platform_assets.lake.versions import StalePublishError, VersionStore
from platform_assets.ml import metrics, serialise
from platform_assets.quality.outcome import ERROR, Judged, Outcome, check_result, not_evaluated

CHECK_BEATS_BASELINE = "beats_baseline"
CHECK_NO_REGRESSION = "no_regression"
GATE_CHECKS = (CHECK_BEATS_BASELINE, CHECK_NO_REGRESSION)
THRESHOLDS = ("min_roc_auc", "min_brier_skill", "max_roc_auc_drop", "max_brier_rise")

# (store, candidate manifest) -> (model input rows, outcomes) of the candidate's held-out days.
HeldOut = Callable[[VersionStore, dict[str, Any]], tuple[pd.DataFrame, np.ndarray]]
# (estimator, rows) -> probabilities
Predict = Callable[[Any, pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class GateSpec:
    """Which model the gate guards, where its evaluation lives, and how to re-score a model."""

    model_key: tuple[str, ...]
    evaluation_key: tuple[str, ...]
    thresholds: Mapping[str, float]
    held_out: HeldOut
    predict: Predict

    def __post_init__(self) -> None:
        missing = [t for t in THRESHOLDS if t not in self.thresholds]
        if missing:
            raise ValueError(f"gate for {'/'.join(self.model_key)} lacks thresholds {missing}")


def run_version(store: VersionStore, key: Sequence[str], partition: str | None, run_id: str) -> str | None:
    """The newest complete version of a partition that run `run_id` wrote, if any."""
    manifest = store.written_by(key, partition, run_id)
    return None if manifest is None else manifest["version"]


def incumbent(store: VersionStore, key: Sequence[str], partition: str | None) -> dict[str, Any] | None:
    """The model readers use now for this partition: its own published one, else the newest
    published partition before it (a new week is scored by last week's model until it passes)."""
    if store.published_version(key, partition) is not None:
        return store.resolve(key, partition)
    if partition is None:
        return None
    for earlier in sorted((p for p in store.partitions(key) if p < partition), reverse=True):
        if store.published_version(key, earlier) is not None:
            return store.resolve(key, earlier)
    return None


def beats_baseline(model: dict[str, Any], thresholds: Mapping[str, float]) -> Outcome:
    evaluation, baseline = model["evaluation"], model["baseline"]
    skill = metrics.brier_skill(evaluation["brier"], baseline["brier"])
    auc_ok = evaluation["roc_auc"] >= float(thresholds["min_roc_auc"])
    skill_ok = skill > float(thresholds["min_brier_skill"])
    metadata = {
        "roc_auc": round(evaluation["roc_auc"], 6),
        "baseline_roc_auc": round(baseline["roc_auc"], 6),
        "min_roc_auc": float(thresholds["min_roc_auc"]),
        "brier": round(evaluation["brier"], 6),
        "baseline_brier": round(baseline["brier"], 6),
        "brier_skill": round(skill, 6),
        "min_brier_skill": float(thresholds["min_brier_skill"]),
        "heldout_rows": evaluation["rows"],
        "positive_rate": round(evaluation["positive_rate"], 6),
    }
    description = (
        f"held-out ROC AUC {evaluation['roc_auc']:.4f} (need >= {thresholds['min_roc_auc']}), Brier "
        f"{evaluation['brier']:.4f} vs baseline {baseline['brier']:.4f} (skill {skill:+.4f}, need > "
        f"{thresholds['min_brier_skill']})"
    )
    return Outcome(CHECK_BEATS_BASELINE, auc_ok and skill_ok, ERROR, description, metadata)


def no_regression(
    spec: GateSpec, store: VersionStore, candidate: dict[str, Any], current: dict[str, Any] | None
) -> Outcome:
    if current is None or current["version"] == candidate["version"]:
        return Outcome(CHECK_NO_REGRESSION, True, ERROR, "no other published model to compare with")
    rows, outcomes = spec.held_out(store, candidate)
    estimator = serialise.loads(store.read_file(current).data)
    theirs = metrics.evaluate(outcomes, spec.predict(estimator, rows))
    ours = candidate["model"]["evaluation"]
    drop = theirs["roc_auc"] - ours["roc_auc"]
    rise = ours["brier"] - theirs["brier"]
    passed = drop <= float(spec.thresholds["max_roc_auc_drop"]) and rise <= float(
        spec.thresholds["max_brier_rise"]
    )
    metadata = {
        "published_version": current["version"],
        "published_partition": current["partition"] or "",
        "roc_auc": round(ours["roc_auc"], 6),
        "published_roc_auc": round(theirs["roc_auc"], 6),
        "max_roc_auc_drop": float(spec.thresholds["max_roc_auc_drop"]),
        "brier": round(ours["brier"], 6),
        "published_brier": round(theirs["brier"], 6),
        "max_brier_rise": float(spec.thresholds["max_brier_rise"]),
        "heldout_rows": len(outcomes),
    }
    description = (
        f"on the same {len(outcomes)} held-out rows: ROC AUC {ours['roc_auc']:.4f} vs published "
        f"{theirs['roc_auc']:.4f} (may drop {spec.thresholds['max_roc_auc_drop']}), "
        f"Brier {ours['brier']:.4f} vs {theirs['brier']:.4f} (may rise {spec.thresholds['max_brier_rise']})"
    )
    return Outcome(CHECK_NO_REGRESSION, passed, ERROR, description, metadata)


class Gate:
    """Judges, records and publishes the model versions one run wrote."""

    def __init__(self, spec: GateSpec, store: VersionStore, run_id: str) -> None:
        self.spec = spec
        self.store = store
        self.run_id = run_id

    def judge(self, partition: str | None) -> list[Judged]:
        key = self.spec.model_key
        version = run_version(self.store, key, partition, self.run_id)
        pending = version is not None
        if version is None:
            version = self.store.published_version(key, partition)
        if version is None:
            return [Judged(partition, None, False, not_evaluated(n, "no model version")) for n in GATE_CHECKS]
        candidate = self.store.manifest(key, partition, version)
        current = incumbent(self.store, key, partition) if pending else None
        outcomes = [beats_baseline(candidate["model"], self.spec.thresholds)]
        outcomes.append(no_regression(self.spec, self.store, candidate, current))
        passed = not any(o.blocks for o in outcomes)
        published = self._settle(partition, version, outcomes, passed) if pending else True
        return [Judged(partition, version, published, o) for o in outcomes]

    def _settle(self, partition: str | None, version: str, outcomes: list[Outcome], passed: bool) -> bool:
        """Write the verdict beside the model and its evaluation; publish both only if it passed.

        True when published; False when it failed, or when a later run's model of this
        partition was published first (the pointer never moves back but by rollback)."""
        checks = {o.check: o.record() for o in outcomes}
        evaluation = run_version(self.store, self.spec.evaluation_key, partition, self.run_id)
        pair = [(self.spec.model_key, version)]
        pair += [(self.spec.evaluation_key, evaluation)] if evaluation else []
        for key, written in pair:
            extra = {"model_version": version, "evaluation_version": evaluation}
            record_audit(self.store, key, partition, written, passed=passed, checks=checks, extra=extra)
        if not passed:
            return False
        summary = {"audit": "passed", "gate": {o.check: o.metadata for o in outcomes}, "run": self.run_id}
        try:
            for key, written in pair:
                self.store.publish(key, partition, written, actor=f"run:{self.run_id}", checks=summary)
        except StalePublishError:
            return False
        return True


def gate_checks(spec: GateSpec, partitioned: bool = True) -> dg.AssetChecksDefinition:
    """The gate as one blocking multi-check on the model asset."""
    key = dg.AssetKey(list(spec.model_key))
    descriptions = {
        CHECK_BEATS_BASELINE: "Held-out ROC AUC and Brier skill beat the base-rate baseline.",
        CHECK_NO_REGRESSION: "Within tolerance of the published model on the same held-out rows.",
    }
    specs = [dg.AssetCheckSpec(n, asset=key, blocking=True, description=descriptions[n]) for n in GATE_CHECKS]

    @dg.multi_asset_check(
        specs=specs,
        name=f"gate_{key.to_python_identifier()}",
        required_resource_keys={"lake"},
        description=f"Promotion gate of {'/'.join(spec.model_key)}: publishes a model only when it passes.",
    )
    def _gate(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        op = context.op_execution_context
        gate = Gate(spec, context.resources.lake.versions(), op.run_id)
        judged: dict[str, list[Judged]] = {n: [] for n in GATE_CHECKS}
        for partition in sorted(op.partition_keys) if partitioned else [None]:
            for one in gate.judge(partition):
                judged[one.outcome.check].append(one)
        for name in GATE_CHECKS:
            yield check_result(key, name, judged[name], sample_rows=20)

    return _gate
