"""`dagster dev` as a subprocess on a free loopback port, driven through its GraphQL API.

A background process started from a non-interactive shell inherits SIGINT as
ignored, and `dagster dev` only shuts down its webserver, daemon and code servers on
SIGINT; so SIGINT is restored before exec, and the whole process group is stopped
by its leader's PID (SIGINT, then SIGKILL for anything left)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from platform_assets_tests.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 120


def _restore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class DagsterDev:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited early:\n{self.log.read_text()[-4000:]}")
            try:
                data = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { "
                    "locationOrLoadError { __typename } } } } }"
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(
            f"dagster dev not ready after {STARTUP_TIMEOUT_S}s:\n{self.log.read_text()[-4000:]}"
        )

    def stop(self) -> None:
        """SIGINT to the group (a clean shutdown), then SIGKILL whatever is left."""
        group = self.process.pid  # the leader of its own session
        try:
            os.killpg(group, signal.SIGINT)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


@contextmanager
def dagster_dev(home: Path, env: Mapping[str, str]) -> Iterator[DagsterDev]:
    """`dagster dev` for the platform's code location with the repo's dagster.yaml."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    log = home / "dagster-dev.log"
    command = [
        str(Path(sys.executable).parent / "dagster"), "dev", "--host", "127.0.0.1", "--port", str(port),
        "--workspace", str(REPO_ROOT / "workspace.yaml"),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            command,
            cwd=home,  # as `make dev` does: the repo's own dagster.yaml is not the instance's
            env={**os.environ, **env, "DAGSTER_HOME": str(home)},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_restore_sigint,  # noqa: PLW1509 - only resets a signal disposition
            start_new_session=True,
        )
    server = DagsterDev(process, port, log)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()
