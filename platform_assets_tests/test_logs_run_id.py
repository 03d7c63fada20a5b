"""Every structured record logged inside a run names the run, also where the code that
logs it has no Dagster context at hand (a storage retry deep in a write)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dagster as dg

from platform_assets import logs
from platform_assets.lake.resources import LakeResource


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(record.getMessage()))


def test_a_record_logged_without_a_run_id_inside_a_run_gets_the_runs(tmp_path: Path) -> None:
    @dg.asset
    def probe(lake: LakeResource) -> None:
        # As LakeStorage.retrying logs a retry: no run id passed.
        logs.emit("storage_retry", operation="write", path="x")

    capture = _Capture()
    logger = logs.get_logger()
    logger.addHandler(capture)
    try:
        result = dg.materialize([probe], resources={"lake": LakeResource(lake_url=str(tmp_path / "lake"))})
        logs.emit("storage_retry", operation="write", path="after")
    finally:
        logger.removeHandler(capture)
    inside, after = [r for r in capture.records if r["event"] == "storage_retry"]
    assert inside["run_id"] == result.run_id and inside["env"] == "dev"
    assert "run_id" not in after  # the run ended: later records are not attributed to it


def test_an_explicit_run_id_wins_over_the_bound_one() -> None:
    logs.bind_run("run-abc")
    try:
        assert logs.record("storage_retry")["run_id"] == "run-abc"
        assert logs.record("x", run_id="explicit")["run_id"] == "explicit"
    finally:
        logs.bind_run(None)
    assert "run_id" not in logs.record("storage_retry")
