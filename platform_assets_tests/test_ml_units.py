"""The generic model parts on small synthetic data: reproducible and safe bytes, PSI, calibration."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.preprocessing import FunctionTransformer

from platform_assets.ml import drift, metrics, serialise


def _fitted() -> HistGradientBoostingClassifier:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    y = (x[:, 0] + 0.5 * rng.normal(size=500) > 0).astype(int)
    return HistGradientBoostingClassifier(max_iter=20, early_stopping=False, random_state=1).fit(x, y)


def test_the_same_model_gives_the_same_bytes_and_loads_back() -> None:
    first, second = serialise.dumps(_fitted()), serialise.dumps(_fitted())
    assert first == second  # raw skops output differs (object ids, zip times); ours does not
    x = np.random.default_rng(2).normal(size=(10, 3))
    assert np.array_equal(serialise.loads(first).predict_proba(x), _fitted().predict_proba(x))


def test_a_model_naming_an_untrusted_type_is_refused_before_anything_is_built() -> None:
    data = serialise.dumps(FunctionTransformer(func=os.system))
    with pytest.raises(serialise.UntrustedModelError, match="posix.system|os.system"):
        serialise.loads(data)


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], size=5000)})
    profile = drift.profile(train, ["x"], ["c"])
    assert drift.feature_psi(profile, train) == {
        "x": pytest.approx(0.0, abs=1e-9),
        "c": pytest.approx(0.0, abs=1e-9),
    }
    shifted = pd.DataFrame({"x": rng.normal(loc=1.0, size=5000), "c": ["a"] * 4500 + ["b"] * 500})
    values = drift.feature_psi(profile, shifted)
    a_train = (train["c"] == "a").mean()
    expected_c = (0.9 - a_train) * math.log(0.9 / a_train) + (0.1 - (1 - a_train)) * math.log(
        0.1 / (1 - a_train)
    )
    assert values["c"] == pytest.approx(expected_c, rel=1e-6)
    assert values["x"] > 0.25


def test_calibration_bins_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(size=2000)
    y = (rng.uniform(size=2000) < p).astype(int)
    table = [row for row in metrics.calibration_table(y, p) if row["count"]]
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    assert [r["observed_rate"] for r in table] == pytest.approx(list(observed))
    assert [r["mean_predicted"] for r in table] == pytest.approx(list(predicted))
