"""A run launcher that starts each run from a warm process instead of a new interpreter.

Dagster's `DefaultRunLauncher` asks the code server to spawn a fresh Python for every
run, which then imports Dagster and the code location before the first step: about
5 s on the 2-core machine, longer than the whole run of a landed day (issue 17,
`benchmarks/RESULTS.md`). `WarmRunLauncher` keeps one process per code location that
has imported the location once (a zygote). A run is a fork of that process, so it starts
with every module already loaded.

- **Same execution.** The forked child runs the body of `dagster api execute_run`, the
  command Dagster's container run launchers start, with the run's id and instance ref.
- **No stale code.** Before it imports anything, the zygote fingerprints the code
  location's package (path, size and mtime of every source and config file) and the
  folders on its import path (their mtime changes when a package is installed, upgraded
  or removed). Each launch compares the fingerprint again; after an edit, a "Reload"
  under `dagster dev` or a `pip install`, the next run gets a new zygote.
- **Warm caches.** The zygote also computes what the platform caches per environment
  (`lake/provenance.environment_provenance`, 0.3 s of listing installed distributions),
  which the same fingerprint keeps true. Per-run facts (the git commit) are not kept.
- **Termination** sends the run's process SIGINT, the interrupt the code server would
  deliver; Dagster records the run as canceled. The run's host and pid are kept in the
  `platform/run_worker` tag, so the webserver can terminate a run the daemon launched.
- **Fallback.** A code location that is not a Python module or package, or a zygote that
  cannot be started, goes through `DefaultRunLauncher`, with an engine event saying why.

Configured in the dev instance (`dagster.yaml`). Staging and prod keep Dagster's own
launchers: PostgreSQL-backed staging uses the default one, prod launches a pod per run.

`python -m platform_assets.run_launcher` is the zygote itself; the launcher starts it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, DefaultRunLauncher
from dagster._core.launcher.base import LaunchRunContext
from dagster._core.origin import JobPythonOrigin
from dagster._serdes import ConfigurableClassData, deserialize_value, serialize_value

WORKER_TAG = "platform/run_worker"
# What the fingerprint covers: code and the configuration files the code reads.
SOURCE_SUFFIXES = frozenset({".py", ".toml", ".yaml", ".yml", ".json", ".sql"})


def fingerprint(root: str, import_path: list[str]) -> str:
    """The code under `root` (a package folder or one module file) and the folders of the
    import path, as one comparable string."""
    path = Path(root)
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    entries = []
    for folder in import_path:
        try:
            entries.append(f"{folder}:{os.stat(folder).st_mtime_ns}")
        except OSError:  # a zip or a missing folder on sys.path
            entries.append(f"{folder}:-")
    for file in files:
        if file.suffix not in SOURCE_SUFFIXES or "__pycache__" in file.parts:
            continue
        try:
            stat = file.stat()
        except FileNotFoundError:  # removed while walking: the next launch sees it gone
            continue
        entries.append(f"{file}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(entries)


def _code_root(module: str, working_directory: str | None) -> str:
    """The folder of the module's top-level package (or its file), found without importing it."""
    import importlib.util

    if working_directory and working_directory not in sys.path:
        sys.path.insert(0, working_directory)
    spec = importlib.util.find_spec(module.split(".")[0])
    if spec is None:
        raise ImportError(f"no module named {module.split('.')[0]!r}")
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return str(spec.origin)


class _Zygote:
    """One warm process for one code location, driven over its stdin and stdout."""

    def __init__(self, origin: JobPythonOrigin) -> None:
        pointer = origin.repository_origin.code_pointer
        self.process = subprocess.Popen(
            [origin.repository_origin.executable_path, "-m", "platform_assets.run_launcher"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=getattr(pointer, "working_directory", None) or None,
            text=True,
        )
        try:
            ready = self._ask({"origin": serialize_value(origin)})
        except Exception:
            self.stop()  # it could not load the location: reap it rather than leave it to the caller
            raise
        self.root: str = ready["root"]
        self.import_path: list[str] = ready["import_path"]
        self.fingerprint: str = ready["fingerprint"]

    def _ask(self, message: Mapping[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the warm run process exited (code {self.process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def current(self) -> bool:
        return self.process.poll() is None and fingerprint(self.root, self.import_path) == self.fingerprint

    def start(self, run_id: str, instance: DagsterInstance) -> int:
        return int(self._ask({"run_id": run_id, "instance_ref": serialize_value(instance.get_ref())})["pid"])

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the zygote exits at end of input; its runs go on
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _warm_key(origin: JobPythonOrigin | None) -> tuple[str, ...] | None:
    if origin is None:
        return None
    pointer = origin.repository_origin.code_pointer
    module = getattr(pointer, "module", None)
    if module is None:  # a file pointer re-executes its file on every load: nothing to keep warm
        return None
    return (
        origin.repository_origin.executable_path,
        module,
        str(getattr(pointer, "working_directory", None)),
    )


class WarmRunLauncher(DefaultRunLauncher):
    """Launches runs as forks of a warm process per code location (see the module docstring)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(inst_data=inst_data)
        self._zygotes: dict[tuple[str, ...], _Zygote] = {}
        self._lock = threading.Lock()

    def _zygote(self, key: tuple[str, ...], origin: JobPythonOrigin) -> _Zygote:
        zygote = self._zygotes.get(key)
        if zygote is not None and not zygote.current():
            zygote.stop()
            zygote = None
        if zygote is None:
            zygote = self._zygotes[key] = _Zygote(origin)
        return zygote

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        key = _warm_key(run.job_code_origin)
        if key is None:
            super().launch_run(context)
            return
        origin = run.job_code_origin
        assert origin is not None
        try:
            with self._lock:
                pid = self._zygote(key, origin).start(run.run_id, self._instance)
        except Exception as error:  # noqa: BLE001 - any failure here falls back to the code server
            broken = self._zygotes.pop(key, None)
            if broken is not None:
                broken.stop()
            self._instance.report_engine_event(
                f"Could not start the run from a warm process ({error}); starting it through "
                "the code server instead.",
                run,
                cls=self.__class__,
            )
            super().launch_run(context)
            return
        self._instance.add_run_tags(
            run.run_id, {WORKER_TAG: json.dumps({"host": socket.gethostname(), "pid": pid})}
        )

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        if WORKER_TAG not in run.tags:
            return super().terminate(run_id)
        worker = json.loads(run.tags[WORKER_TAG])
        self._instance.report_run_canceling(run)
        if worker.get("host") != socket.gethostname():
            self._instance.report_engine_event(
                f"The run's process is on host {worker.get('host')!r}, not this one; it cannot be "
                "interrupted from here.",
                run,
                cls=self.__class__,
            )
            return False
        try:
            os.kill(int(worker["pid"]), signal.SIGINT)
        except ProcessLookupError:
            return False
        return True

    def dispose(self) -> None:
        with self._lock:
            for zygote in self._zygotes.values():
                zygote.stop()
            self._zygotes.clear()
        super().dispose()


# ---- the zygote ------------------------------------------------------------------------------


def _run_child(run_id: str, instance_ref: str, out: int) -> None:
    """In the forked child: execute the run as `dagster api execute_run` would, then exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the run may wait on its own subprocesses
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # the zygote's stdout is the launcher's pipe; the run prints to stderr
    os.close(out)
    code = 1
    try:
        from dagster._cli.api import _execute_run_command_body
        from dagster._core.instance.ref import InstanceRef
        from dagster._utils.interrupts import capture_interrupts

        with capture_interrupts():
            with DagsterInstance.from_ref(deserialize_value(instance_ref, InstanceRef)) as instance:
                code = _execute_run_command_body(
                    run_id, instance, lambda _event: None, set_exit_code_on_failure=False
                )
    except BaseException:  # noqa: BLE001 - report anything, then leave without the zygote's cleanup
        import traceback

        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _warm_caches() -> None:
    """Per-environment facts the platform caches, computed once for every forked run."""
    provenance = sys.modules.get("platform_assets.lake.provenance")
    if provenance is not None:
        provenance.environment_provenance()


def _zygote_main() -> None:
    from dagster._utils.hosted_user_process import recon_job_from_origin

    out = os.dup(1)
    os.dup2(2, 1)  # whatever the code location prints on import must not reach the launcher
    reply = os.fdopen(out, "w", buffering=1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished runs are reaped by the kernel
    first = json.loads(sys.stdin.readline() or "{}")
    try:
        origin = deserialize_value(first["origin"], JobPythonOrigin)
        pointer = origin.repository_origin.code_pointer
        root = _code_root(pointer.module, getattr(pointer, "working_directory", None))
        import_path = [folder for folder in sys.path if folder]
        # Before the import: an edit made during it makes the next launch start afresh.
        before_import = fingerprint(root, import_path)
        recon_job_from_origin(origin).get_definition()  # import the code location and build the job
        _warm_caches()
    except Exception as error:  # noqa: BLE001 - the launcher falls back and shows this message
        reply.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
        return
    reply.write(json.dumps({"root": root, "import_path": import_path, "fingerprint": before_import}) + "\n")
    try:
        for line in sys.stdin:
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _run_child(request["run_id"], request["instance_ref"], out)
            reply.write(json.dumps({"pid": pid}) + "\n")
    except KeyboardInterrupt:  # Ctrl-C on `dagster dev` reaches the whole process group
        return


if __name__ == "__main__":
    _zygote_main()
