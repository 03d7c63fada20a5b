"""Backfills through the path a user takes: `dagster asset materialize` against an instance.

Every contender (Dagster floor, stock peer, platform) is timed the same way: the
reference tables in one CLI run, then the daily assets over the whole range in one
single-run backfill, each a fresh `dagster` process against a DAGSTER_HOME whose
dagster.yaml is given (SQLite by default, PostgreSQL for the floor's second figure).
Peak memory is sampled over the whole process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.memory import TreeMemory

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
# The graph every contender builds: raw, curated and serving of the flights domain.
# The weekly delay model and its daily scores are machine learning, not the data
# transformations the floors do, so they are left out of every side alike.
REFERENCE = [
    "raw/airlines",
    "raw/airports",
    "raw/planes",
    "curated/airlines",
    "curated/airports",
    "curated/planes",
]
DAILY = [
    "raw/flights", "raw/weather", "curated/flights", "curated/weather",
    "serving/carrier_daily_performance", "serving/route_daily", "serving/flight_delay_features",
]  # fmt: skip
QUIET = '{"loggers": {"console": {"config": {"log_level": "WARNING"}}}}'


@dataclass
class Timed:
    seconds: float
    peak_rss_mb: float


def selection(keys: Sequence[str]) -> str:
    return ",".join(f"key:{k}" for k in keys)


def instance_home(home: Path, instance_yaml: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml)
    return home


def materialize(
    location: Sequence[str],
    keys: Sequence[str],
    env: Mapping[str, str],
    partition_range: tuple[str, str] | None = None,
    log: Path | None = None,
) -> Timed:
    """One `dagster asset materialize` run; raises with the log's tail if it fails."""
    argv = [DAGSTER, "asset", "materialize", *location, "--select", selection(keys), "--config-json", QUIET]
    if partition_range:
        argv += ["--partition-range", f"{partition_range[0]}...{partition_range[1]}"]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    began = time.perf_counter()
    try:
        process = subprocess.Popen(
            argv, env=full_env, cwd=env.get("DAGSTER_HOME", REPO), stdout=out, stderr=out
        )
        memory = TreeMemory(process.pid)
        code = memory.wait(process)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    seconds = time.perf_counter() - began
    if code != 0:
        tail = log.read_text()[-3000:] if log else ""
        raise RuntimeError(f"{' '.join(argv[:8])} ... failed ({code}):\n{tail}")
    return Timed(seconds, memory.peak_mb)


def backfill(
    location: Sequence[str], env: Mapping[str, str], start: str, end: str, log: Path | None = None
) -> Timed:
    """Reference tables, then every daily asset over [start, end] in one run."""
    reference = materialize(location, REFERENCE, env, log=log)
    daily = materialize(location, DAILY, env, (start, end), log=log)
    return Timed(reference.seconds + daily.seconds, max(reference.peak_rss_mb, daily.peak_rss_mb))
