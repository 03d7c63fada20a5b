"""Input drift: the population stability index of each feature, training window vs a scored day.

The model's manifest keeps each feature's training distribution (decile edges for
numbers, shares of the most common values for categories), so a scoring step
compares a day with it without reading the training data again.

PSI = sum over bins of (day share - train share) * ln(day share / train share); the
usual reading: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 a real shift."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

NUMERIC_BINS = 10
TOP_CATEGORIES = 30
MISSING = "__missing__"
OTHER = "__other__"
_FLOOR = 1e-4  # an empty bin's share, so the logarithm stays finite


def _numeric_edges(values: pd.Series) -> list[float]:
    present = values.dropna().to_numpy(dtype=float)
    if len(present) == 0:
        return []
    edges = np.unique(np.quantile(present, np.linspace(0, 1, NUMERIC_BINS + 1))[1:-1])
    return [float(e) for e in edges]


def _numeric_shares(values: pd.Series, edges: Sequence[float]) -> dict[str, float]:
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(numbers)
    index = np.searchsorted(np.asarray(edges, dtype=float), numbers[~missing], side="right")
    counts = np.bincount(index, minlength=len(edges) + 1)
    total = len(numbers) or 1
    shares = {str(i): float(c) / total for i, c in enumerate(counts)}
    shares[MISSING] = float(missing.sum()) / total
    return shares


def _category_shares(values: pd.Series, categories: Sequence[str]) -> dict[str, float]:
    total = len(values) or 1
    text = values.astype("string")
    counts = text.value_counts(dropna=True)
    shares = {c: float(counts.get(c, 0)) / total for c in categories}
    shares[MISSING] = float(text.isna().sum()) / total
    shares[OTHER] = max(0.0, 1.0 - sum(shares.values()))
    return shares


def profile(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> dict[str, Any]:
    """Each feature's training distribution, JSON-safe for the model's manifest."""
    features: dict[str, Any] = {}
    for column in numeric:
        edges = _numeric_edges(frame[column])
        features[column] = {
            "kind": "numeric",
            "edges": edges,
            "shares": _numeric_shares(frame[column], edges),
        }
    for column in categorical:
        counts = frame[column].astype("string").value_counts(dropna=True)
        top = sorted(counts.index[:TOP_CATEGORIES].tolist())
        features[column] = {
            "kind": "categorical",
            "categories": top,
            "shares": _category_shares(frame[column], top),
        }
    return {"rows": len(frame), "features": features}


def psi(expected: dict[str, float], actual: dict[str, float]) -> float:
    total = 0.0
    for key in sorted(set(expected) | set(actual)):
        e = max(expected.get(key, 0.0), _FLOOR)
        a = max(actual.get(key, 0.0), _FLOOR)
        if expected.get(key, 0.0) == 0.0 and actual.get(key, 0.0) == 0.0:
            continue
        total += (a - e) * math.log(a / e)
    return total


def feature_psi(training: dict[str, Any], frame: pd.DataFrame) -> dict[str, float]:
    """PSI of every profiled feature on `frame` against the training profile."""
    out = {}
    for column, spec in training["features"].items():
        if column not in frame.columns:
            continue
        if spec["kind"] == "numeric":
            actual = _numeric_shares(frame[column], spec["edges"])
        else:
            actual = _category_shares(frame[column], spec["categories"])
        out[column] = round(psi(spec["shares"], actual), 6)
    return out
