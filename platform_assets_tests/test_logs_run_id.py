"""Every structured record logged inside a run names the run, also where the code that
logs it has no Dagster context at hand (a storage retry deep in a write, a thread of
the lake's parallel reads), and no record outside a run is attributed to one."""

from __future__ import annotations

import json
import logging
from typing import Any

import dagster as dg

from platform_assets import logs
from platform_assets.lake.history import parallel_map


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(record.getMessage()))


def _retry(path: str) -> None:
    # As LakeStorage.retrying logs a retry: no run id passed.
    logs.emit("storage_retry", operation="write", path=path)


class _Writer(dg.IOManager):
    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        _retry("io-manager")

    def load_input(self, context: dg.InputContext) -> Any:
        _retry("io-manager-read")
        return 1


def test_records_logged_without_a_run_id_inside_a_run_get_the_runs() -> None:
    @dg.asset
    def upstream() -> int:
        _retry("asset")
        parallel_map(_retry, ["thread-1", "thread-2"])
        return 1

    @dg.asset
    def downstream(upstream: int) -> int:
        return upstream

    @dg.asset_check(asset=downstream)
    def check() -> dg.AssetCheckResult:
        _retry("check")
        return dg.AssetCheckResult(passed=True)

    capture = _Capture()
    logger = logs.get_logger()
    logger.addHandler(capture)
    try:
        result = dg.materialize([upstream, downstream, check], resources={"io_manager": _Writer()})
        _retry("after")
    finally:
        logger.removeHandler(capture)
    by_path = {r["path"]: r for r in capture.records if r["event"] == "storage_retry"}
    inside = ["asset", "thread-1", "thread-2", "io-manager", "io-manager-read", "check"]
    assert set(by_path) == {*inside, "after"}
    assert {path: by_path[path].get("run_id") for path in inside} == dict.fromkeys(inside, result.run_id)
    assert "run_id" not in by_path["after"]  # the run ended: later records are not attributed to it


def test_an_explicit_run_id_wins() -> None:
    assert logs.record("x", run_id="explicit")["run_id"] == "explicit"
    assert "run_id" not in logs.record("storage_retry")
