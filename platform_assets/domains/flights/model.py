"""The delay model: a weekly classifier of "arrival more than 15 minutes late".

Partitioned by week because that is how it is used: a model is retrained at the
start of each week on the trailing window of published feature days before the week,
and scores the days of that week. A day is therefore always scored by a model that
never saw it, a backtest over 2013 is one run per week (51 models, not 365), and a
week's model can be retrained (on a drift warning) or rolled back without touching
any other week's. A month would leave a model facing four weeks of drift unretrained.

Training is deterministic: rows sorted by (date, flight_id), a fixed column order,
categories encoded in sorted order, a fixed seed, early stopping off (it would
draw a random validation split) and one thread, so the same feature versions and
code give byte-identical skops bytes and the same content hash. Each run writes the
model and its held-out predictions (`ml/delay_model_evaluation`) unpublished; the
gate (`gate.py` in `platform_assets.ml`) publishes both or neither."""

# No `from __future__ import annotations`: Dagster resolves the config annotation at decoration time.

import time
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from platform_assets.domains.flights.config import DOMAIN, domain_config
from platform_assets.lake.artifact import Artifact
from platform_assets.lake.io_manager import PUBLISH_AFTER_AUDIT, PUBLISH_POLICY_KEY
from platform_assets.lake.manifest import upstream_entry
from platform_assets.lake.versions import NotPublishedError, VersionStore
from platform_assets.ml import drift, metrics, serialise
from platform_assets.ml.gate import GateSpec, gate_checks

MODEL_CODE_VERSION = "1"
FEATURES_KEY = ("serving", "flight_delay_features")
MODEL_KEY = ("ml", "delay_model")
EVALUATION_KEY = ("ml", "delay_model_evaluation")
MODEL_FILE = "model.skops"
WEEK_COLUMN = "model_week"
ROLE_TRAIN = "train"
ROLE_HOLDOUT = "holdout"

CATEGORICAL = ["carrier", "origin", "dest", "plane_type", "plane_manufacturer"]
NUMERIC = [
    "sched_dep_hour_local", "day_of_week", "distance", "temp", "dewp", "humid", "wind_dir",
    "wind_speed", "wind_gust", "precip", "pressure", "visib", "has_weather", "plane_year",
    "plane_engines", "plane_seats", "has_plane",
]  # fmt: skip
FEATURE_COLUMNS = [*CATEGORICAL, *NUMERIC]


def model_config() -> dict[str, Any]:
    return domain_config()["model"]


MODEL = model_config()
WEEKLY = dg.WeeklyPartitionsDefinition(start_date=MODEL["first_week"], end_date=MODEL["end"], day_offset=1)


class ModelWindowError(ValueError):
    """The trailing window cannot train or evaluate a model (too few published days)."""


class DelayModelConfig(dg.Config):
    """Run config of a training run; defaults come from flights.toml [model]."""

    window_days: int = int(MODEL["window_days"])
    holdout_days: int = int(MODEL["holdout_days"])
    # Last feature day to train on; default the day before the week (a drift retrain
    # passes the day before the drifting one).
    through: str | None = None
    # Negative control: train on labels permuted with this seed. Such a model has
    # learned nothing, and the gate must refuse it.
    shuffle_labels_seed: int | None = None


def window_days(week: str, config: DelayModelConfig) -> tuple[list[str], list[str]]:
    """(training days, held-out days) of the window ending at `through`, oldest first."""
    start = date.fromisoformat(week)
    through = date.fromisoformat(config.through) if config.through else start - timedelta(days=1)
    if not start - timedelta(days=1) <= through < start + timedelta(days=6):
        raise ModelWindowError(
            f"through={through} must fall between {start - timedelta(days=1)} and the week's end"
        )
    if config.holdout_days < 1 or config.window_days <= config.holdout_days:
        raise ModelWindowError(
            f"window_days ({config.window_days}) must exceed holdout_days ({config.holdout_days}) >= 1"
        )
    days = [(through - timedelta(days=n)).isoformat() for n in range(config.window_days - 1, -1, -1)]
    return days[: -config.holdout_days], days[-config.holdout_days :]


def model_frame(features: pd.DataFrame) -> pd.DataFrame:
    """The estimator's input: fixed column order, categories as text, everything else float."""
    frame = pd.DataFrame(index=features.index)
    for column in CATEGORICAL:
        frame[column] = features[column].astype(object).where(features[column].notna(), None)
    for column in NUMERIC:
        frame[column] = pd.to_numeric(features[column], errors="coerce").astype("float64")
    return frame


def delayed(features: pd.DataFrame) -> pd.Series:
    """1 when the arrival was more than the threshold late, 0 when not, NA without an arrival."""
    threshold = float(MODEL["delayed_after_min"])
    late = (features["arr_delay"] > threshold).astype("Int64")
    return late.where(features["arr_delay"].notna(), pd.NA)


def build_estimator(params: dict[str, Any]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    prepare = ColumnTransformer(
        [("categories", encode, CATEGORICAL)], remainder="passthrough", verbose_feature_names_out=False
    )
    boost = HistGradientBoostingClassifier(
        categorical_features=list(range(len(CATEGORICAL))), early_stopping=False, **params
    )
    return Pipeline([("prepare", prepare), ("boost", boost)])


def predict(estimator: Any, features: pd.DataFrame) -> np.ndarray:
    """Delay probability per row, on one thread (the same result on any machine)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return estimator.predict_proba(model_frame(features))[:, 1]


def read_days(
    store: VersionStore, days: Sequence[str], role: str
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The published feature versions of `days` (days never published are skipped and named)."""
    frames, used = [], []
    for day in days:
        try:
            manifest = store.resolve(FEATURES_KEY, day)
        except NotPublishedError:
            continue
        frames.append(store.read_table(manifest).to_pandas())
        used.append({**upstream_entry(manifest), "role": role})
    if not frames:
        return pd.DataFrame(), used
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["date", "flight_id"], kind="stable").reset_index(drop=True), used


def read_pinned(store: VersionStore, entries: Sequence[dict[str, Any]], role: str) -> pd.DataFrame:
    """The exact feature versions a model manifest names for `role`, in its row order."""
    frames = []
    for entry in entries:
        if entry.get("role") == role:
            manifest = store.resolve(FEATURES_KEY, entry["partition"], entry["version"])
            frames.append(store.read_table(manifest).to_pandas())
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["date", "flight_id"], kind="stable").reset_index(drop=True)


def labelled(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    y = delayed(frame)
    keep = y.notna().to_numpy()
    return frame[keep].reset_index(drop=True), y[keep].astype(int).to_numpy()


def train(store: VersionStore, week: str, config: DelayModelConfig) -> tuple[Artifact, pd.DataFrame]:
    """Fit on the window's training days, evaluate on its held-out days; the artifact and the
    held-out predictions (flight, probability, baseline, outcome)."""
    from threadpoolctl import threadpool_limits

    train_days, holdout_days = window_days(week, config)
    train_raw, train_used = read_days(store, train_days, ROLE_TRAIN)
    holdout_raw, holdout_used = read_days(store, holdout_days, ROLE_HOLDOUT)
    if not train_used or not holdout_used:
        raise ModelWindowError(
            f"week {week}: {len(train_used)} published training day(s) in {train_days[0]}.."
            f"{train_days[-1]} and {len(holdout_used)} held-out day(s) in {holdout_days[0]}.."
            f"{holdout_days[-1]}; need at least one of each"
        )
    train_frame, y_train = labelled(train_raw)
    holdout_frame, y_holdout = labelled(holdout_raw)
    if config.shuffle_labels_seed is not None:
        y_train = np.random.default_rng(config.shuffle_labels_seed).permutation(y_train)
    params = dict(MODEL["params"])
    started = time.perf_counter()
    estimator = build_estimator(params)
    with threadpool_limits(limits=1):
        estimator.fit(model_frame(train_frame), y_train)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probability = predict(estimator, holdout_frame)
    predict_seconds = time.perf_counter() - started
    base_rate = float(y_train.mean())
    evaluation = metrics.evaluate(y_holdout, probability)
    baseline = {"kind": "training delay rate for every flight", "probability": base_rate}
    baseline.update(metrics.evaluate(y_holdout, np.full(len(y_holdout), base_rate)))
    used = train_used + holdout_used
    described = {
        "target": f"arr_delay > {MODEL['delayed_after_min']} minutes",
        "estimator": "sklearn HistGradientBoostingClassifier in a Pipeline (OrdinalEncoder for categories)",
        "serialisation": "skops (no pickle), canonicalised for reproducible bytes",
        "params": params,
        "features": {"categorical": CATEGORICAL, "numeric": NUMERIC},
        "window": {
            "week": week,
            "through": holdout_days[-1],
            "window_days": config.window_days,
            "holdout_days": config.holdout_days,
            "train_days": [u["partition"] for u in train_used],
            "heldout_days": [u["partition"] for u in holdout_used],
            "missing_days": sorted(set(train_days + holdout_days) - {u["partition"] for u in used}),
            "shuffle_labels_seed": config.shuffle_labels_seed,
        },
        "training_data": used,
        "rows": {
            "train": len(train_frame),
            "holdout": len(holdout_frame),
            "unlabelled_skipped": len(train_raw) + len(holdout_raw) - len(train_frame) - len(holdout_frame),
        },
        "evaluation": evaluation,
        "baseline": baseline,
        "brier_skill": metrics.brier_skill(evaluation["brier"], baseline["brier"]),
        "training_profile": drift.profile(model_frame(train_frame), NUMERIC, CATEGORICAL),
        "seconds": {"train": round(train_seconds, 3), "predict_holdout": round(predict_seconds, 3)},
    }
    artifact = Artifact(
        MODEL_FILE,
        serialise.dumps(estimator),
        serialise.MEDIA_TYPE,
        {"model": described, "upstream": [{k: v for k, v in u.items() if k != "role"} for u in used]},
    )
    held_out = pd.DataFrame(
        {
            "flight_id": holdout_frame["flight_id"].astype(str),
            "date": holdout_frame["date"].astype(str),
            "sched_dep_hour_local": holdout_frame["sched_dep_hour_local"].astype("int32"),
            "delay_probability": probability,
            "baseline_probability": np.full(len(holdout_frame), base_rate),
            "delayed": y_holdout.astype(bool),
            WEEK_COLUMN: week,
        }
    )
    return artifact, held_out


_AUDITED = {PUBLISH_POLICY_KEY: PUBLISH_AFTER_AUDIT}
_TAGS = {"zone": "ml", "domain": DOMAIN}


@dg.multi_asset(
    outs={
        "delay_model": dg.AssetOut(
            key=list(MODEL_KEY),
            metadata=_AUDITED,
            code_version=MODEL_CODE_VERSION,
            tags=_TAGS,
            kinds={"sklearn"},
            description="Weekly delay classifier (skops), trained on the trailing published feature days "
            "before its week; its manifest names those versions and its held-out metrics.",
        ),
        "delay_model_evaluation": dg.AssetOut(
            key=list(EVALUATION_KEY),
            metadata={**_AUDITED, "partition_column": WEEK_COLUMN},
            code_version=MODEL_CODE_VERSION,
            tags=_TAGS,
            kinds={"parquet"},
            description="The model's held-out predictions: one row per labelled flight of the held-out days, "
            "with the base-rate baseline and the outcome.",
        ),
    },
    deps=[dg.AssetDep(list(FEATURES_KEY), partition_mapping=dg.AllPartitionMapping())],
    partitions_def=WEEKLY,
    group_name="ml",
    required_resource_keys={"lake"},
)
def delay_model(context: dg.AssetExecutionContext, config: DelayModelConfig):  # noqa: ANN201 - two outputs
    store = context.resources.lake.versions()
    try:
        artifact, held_out = train(store, context.partition_key, config)
    except (ModelWindowError, ValueError) as error:
        raise dg.Failure(description=f"ml/delay_model {context.partition_key}: {error}") from None
    yield dg.Output(artifact, output_name="delay_model")
    yield dg.Output(held_out, output_name="delay_model_evaluation")


def held_out(store: VersionStore, manifest: dict[str, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    """The candidate's held-out rows and outcomes, from the exact feature versions it names."""
    return labelled(read_pinned(store, manifest["model"]["training_data"], ROLE_HOLDOUT))


GATE = GateSpec(MODEL_KEY, EVALUATION_KEY, dict(MODEL["gate"]), held_out, predict)
model_assets = [delay_model]
model_checks = [gate_checks(GATE)]
