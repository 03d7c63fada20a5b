"""A throwaway PostgreSQL server from Debian's packages, as the tests start one.

The one server the tests (test_deploy_instance.py) and benchmarks start (initdb as the
`postgres` user when root, trust auth on a loopback port, a `dagster` database); it
yields the DAGSTER_PG_* variables that deploy/dagster.yaml reads."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*command: str) -> list[str]:
    return list(command) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *command]


def available() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/postgres"))


@contextmanager
def postgres() -> Iterator[dict[str, str]]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (`make test-system-packages` installs it)")
    bin_dir = Path(found[-1]).parent
    data = Path(tempfile.mkdtemp(prefix="platform-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = str(_free_port())
    subprocess.run(
        _as_postgres(str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "dagster", "--auth=trust"),
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        _as_postgres(
            str(bin_dir / "postgres"),
            "-D",
            str(data / "db"),
            "-p",
            port,
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={data}",
        ),  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(150):
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", port], capture_output=True
            )
            if ready.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("PostgreSQL did not start")
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "dagster", "dagster"], check=True
        )
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": port,
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_USERNAME": "dagster",
            "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
