"""How good a probability is: the metrics a model's manifest records and its gate compares.

Ranking (ROC AUC) and calibration (Brier score, reliability bins, expected calibration
error) are both needed: a model can order flights well and still say 40% where 20% of
flights are late. The naive baseline is the training days' delay rate for every flight."""

from __future__ import annotations

from typing import Any

import numpy as np

CALIBRATION_BINS = 10


def calibration_table(
    y_true: np.ndarray, prob: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[dict[str, Any]]:
    """Fixed-width probability bins: flights, mean predicted and observed delay rate per bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(prob, edges[1:-1], right=False), 0, bins - 1)
    table = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        table.append(
            {
                "bin_low": round(float(edges[b]), 3),
                "bin_high": round(float(edges[b + 1]), 3),
                "flights": count,
                "mean_predicted": float(prob[mask].mean()) if count else None,
                "observed_rate": float(y_true[mask].mean()) if count else None,
            }
        )
    return table


def expected_calibration_error(table: list[dict[str, Any]]) -> float:
    total = sum(row["flights"] for row in table)
    if not total:
        return 0.0
    gaps = (
        row["flights"] * abs(row["mean_predicted"] - row["observed_rate"]) for row in table if row["flights"]
    )
    return float(sum(gaps) / total)


def evaluate(y_true: np.ndarray, prob: np.ndarray) -> dict[str, Any]:
    """ROC AUC, Brier score, log loss, calibration and the positive rate of one set of predictions."""
    # Imported here: every run worker loads the code location, and scikit-learn is a third
    # of that load time, needed only by the runs that train or evaluate a model.
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y_true, dtype=int)
    p = np.asarray(prob, dtype=float)
    if len(np.unique(y)) < 2:
        raise ValueError("held-out days hold only one class; ROC AUC is undefined")
    table = calibration_table(y, p)
    return {
        "rows": len(y),
        "positive_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "roc_auc": float(roc_auc_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "expected_calibration_error": expected_calibration_error(table),
        "calibration": table,
    }


def brier_skill(brier: float, baseline_brier: float) -> float:
    """1 - brier / baseline: above 0 means better than predicting the base rate."""
    return 1.0 - brier / baseline_brier if baseline_brier > 0 else 0.0
