"""The production instance config (deploy/dagster.yaml) against a real PostgreSQL server.

The server comes from Debian's postgresql package (`make test` installs it when
missing); it runs as the `postgres` user on a free loopback port in a temporary
cluster, and is stopped at the end."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from platform_assets_tests.conftest import free_port, local_lake
from platform_assets_tests.pipeline import land_days

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        pytest.fail("PostgreSQL server binaries are missing; `make test` installs Debian's postgresql")
    return Path(found[-1]).parent


def _as_postgres(*command: str) -> list[str]:
    return list(command) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    bin_dir = _pg_bin()
    data = Path(tempfile.mkdtemp(prefix="platform-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = str(free_port())
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
        for _ in range(100):
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", port], capture_output=True
            )
            if ready.returncode == 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail("PostgreSQL did not start")
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "dagster", "dagster"],
            check=True,
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


def test_production_instance_stores_runs_in_postgres(
    postgres: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    lake = local_lake(tmp_path)
    land_days(lake, "2013-01-01", "2013-01-01")

    from platform_assets.definitions import build_definitions

    defs = build_definitions(lake.resource)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        selection = [dg.AssetKey(["raw", "airlines"]), dg.AssetKey(["curated", "airlines"])]
        result = dg.materialize(
            [*assets, *(defs.asset_checks or [])],  # the audits publish what passes
            selection=selection,
            resources=defs.resources,
            instance=instance,
        )
        assert result.success

    # A fresh instance (another process, in production) sees the run and the materialization.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.is_success
        event = instance.get_latest_materialization_event(dg.AssetKey(["curated", "airlines"]))
        assert event is not None
        assert event.asset_materialization.metadata["dagster/row_count"].value == 16
