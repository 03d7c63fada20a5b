"""The warm run launcher: runs start as forks of a warm process, see code edits, and can be
terminated. A real SQLite instance and real processes; the code location is a small
package written to a temporary folder so that a test can edit it."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin

from platform_assets.run_launcher import WORKER_TAG, WarmRunLauncher

CODE = """
import os
import time
from pathlib import Path

import dagster as dg

VERSION = "{version}"


class Stamp(dg.Config):
    out: str
    sleep_s: float = 0.0


@dg.op
def stamp(config: Stamp) -> None:
    Path(config.out).write_text(f"{{VERSION}} {{os.getpid()}} {{os.getppid()}}")
    time.sleep(config.sleep_s)


@dg.job(executor_def=dg.in_process_executor)
def stamp_job():
    stamp()


defs = dg.Definitions(jobs=[stamp_job])
"""


def _write_code(root: Path, version: str) -> None:
    package = root / "warm_code_location"
    package.mkdir(exist_ok=True)
    path = package / "__init__.py"
    path.write_text(CODE.format(version=version))
    # Two writes within one mtime tick must still look different: size changes with the version
    # string, and the mtime is moved on explicitly.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def location(tmp_path: Path) -> Iterator[tuple[dg.DagsterInstance, Path]]:
    code_root = tmp_path / "code"
    code_root.mkdir()
    (tmp_path / "home").mkdir()
    _write_code(code_root, "one")
    overrides = {"run_launcher": {"module": "platform_assets.run_launcher", "class": "WarmRunLauncher"}}
    with dg.instance_for_test(overrides=overrides, temp_dir=str(tmp_path / "home")) as instance:
        assert isinstance(instance.run_launcher, WarmRunLauncher)
        yield instance, code_root
        instance.run_launcher.dispose()


def _launch(instance: dg.DagsterInstance, code_root: Path, out: Path, sleep_s: float = 0.0) -> str:
    sys.path.insert(0, str(code_root))
    sys.modules.pop("warm_code_location", None)  # another test's copy, from another folder
    try:
        module = importlib.import_module("warm_code_location")
        job = module.stamp_job
    finally:
        sys.path.remove(str(code_root))
    origin = JobPythonOrigin(
        "stamp_job",
        RepositoryPythonOrigin(
            sys.executable, ModuleCodePointer("warm_code_location", "defs", str(code_root))
        ),
    )
    run = instance.create_run_for_job(
        job,
        run_config={"ops": {"stamp": {"config": {"out": str(out), "sleep_s": sleep_s}}}},
        job_code_origin=origin,
    )
    instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type]
    return run.run_id


def _wait(instance: dg.DagsterInstance, run_id: str, timeout_s: float = 60) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        if run.is_finished:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish within {timeout_s} s")


def test_runs_are_forks_of_one_warm_process_and_succeed(location, tmp_path: Path) -> None:
    instance, code_root = location
    stamps = []
    for n in range(2):
        out = tmp_path / f"stamp{n}"
        run_id = _launch(instance, code_root, out)
        assert _wait(instance, run_id).status == dg.DagsterRunStatus.SUCCESS
        version, pid, parent = out.read_text().split()
        assert version == "one"
        worker = json.loads(instance.get_run_by_id(run_id).tags[WORKER_TAG])
        assert worker["pid"] == int(pid)
        stamps.append((int(pid), int(parent)))
        logs = [e.message for e in instance.all_logs(run_id)]
        assert any(f"Started process for run (pid: {pid})" in m for m in logs)
    (first_pid, first_parent), (second_pid, second_parent) = stamps
    assert first_pid != second_pid
    assert first_parent == second_parent, "both runs are children of the same warm process"
    assert first_parent != os.getpid()


def test_an_edit_to_the_code_location_reaches_the_next_run(location, tmp_path: Path) -> None:
    instance, code_root = location
    first = _launch(instance, code_root, tmp_path / "before")
    assert _wait(instance, first).status == dg.DagsterRunStatus.SUCCESS
    _write_code(code_root, "two-edited")
    second = _launch(instance, code_root, tmp_path / "after")
    assert _wait(instance, second).status == dg.DagsterRunStatus.SUCCESS
    before = (tmp_path / "before").read_text().split()
    after = (tmp_path / "after").read_text().split()
    assert before[0] == "one" and after[0] == "two-edited"
    assert before[2] != after[2], "the edit started a new warm process"


def test_terminating_a_run_cancels_it(location, tmp_path: Path) -> None:
    instance, code_root = location
    out = tmp_path / "stamp"
    run_id = _launch(instance, code_root, out, sleep_s=120)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.exists(), "the run never reached its op"
    began = time.monotonic()
    assert instance.run_launcher.terminate(run_id)
    run = _wait(instance, run_id, timeout_s=30)
    assert run.status == dg.DagsterRunStatus.CANCELED
    assert time.monotonic() - began < 30
    pid = int(out.read_text().split()[1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the canceled run's process {pid} is still alive")


def test_a_location_that_cannot_load_falls_back_with_a_reason(location, tmp_path: Path) -> None:
    instance, code_root = location
    (code_root / "warm_code_location" / "__init__.py").write_text("raise RuntimeError('broken on import')\n")
    launcher = instance.run_launcher
    origin = JobPythonOrigin(
        "stamp_job",
        RepositoryPythonOrigin(
            sys.executable, ModuleCodePointer("warm_code_location", "defs", str(code_root))
        ),
    )
    run = instance.create_run(
        job_name="stamp_job",
        run_id=None,
        run_config=None,
        status=None,
        tags=None,
        root_run_id=None,
        parent_run_id=None,
        step_keys_to_execute=None,
        execution_plan_snapshot=None,
        job_snapshot=None,
        parent_job_snapshot=None,
        asset_selection=None,
        asset_check_selection=None,
        resolved_op_selection=None,
        op_selection=None,
        job_code_origin=origin,
        remote_job_origin=None,
        asset_graph=None,  # type: ignore[arg-type]
    )
    with pytest.raises(Exception, match="requires a workspace"):
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    messages = [e.message for e in instance.all_logs(run.run_id)]
    assert any("broken on import" in m and "code server" in m for m in messages), messages


def test_an_install_on_the_import_path_starts_a_new_warm_process(location, tmp_path: Path) -> None:
    """A package added beside the code location (what `pip install` does to site-packages)
    leaves the code location's own files as they were, but the next run must not run in a
    process that imported the old environment."""
    instance, code_root = location
    first = _launch(instance, code_root, tmp_path / "before")
    assert _wait(instance, first).status == dg.DagsterRunStatus.SUCCESS
    again = _launch(instance, code_root, tmp_path / "again")
    assert _wait(instance, again).status == dg.DagsterRunStatus.SUCCESS
    (code_root / "newly_installed.py").write_text("VALUE = 1\n")
    after = _launch(instance, code_root, tmp_path / "after")
    assert _wait(instance, after).status == dg.DagsterRunStatus.SUCCESS
    parents = [(tmp_path / name).read_text().split()[2] for name in ("before", "again", "after")]
    assert parents[0] == parents[1], "nothing changed: the same warm process"
    assert parents[2] != parents[1], "the import path changed: a new warm process"
