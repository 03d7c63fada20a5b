"""A run from a throwaway Dagster instance may not publish into the environment's lake.

Without DAGSTER_HOME, `dagster asset materialize` runs in a temporary instance that is
deleted when it exits; its versions would stay published in the shared lake while
the UI (reading the project's instance) names a superseded version as the latest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.lake.resources import ALLOW_THROWAWAY_INSTANCE_ENV, LakeResource, ThrowawayInstanceError
from platform_assets_tests.conftest import local_lake

BIN = Path(sys.executable).parent
AIRLINES = b"carrier,name\nAA,American Airlines Inc.\n"


def _materialize_airlines(lake: LakeResource, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    defs = build_definitions(lake)
    return dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        selection=[dg.AssetKey(["raw", "airlines"])],
        resources=defs.resources,
        instance=instance,
        raise_on_error=False,
    )


@pytest.mark.integration
def test_dagster_cli_without_dagster_home_refuses_to_write_the_lake(tmp_path: Path) -> None:
    lake = local_lake(tmp_path)
    lake.storage.write_bytes("landing/airlines.csv", AIRLINES)
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", ALLOW_THROWAWAY_INSTANCE_ENV)}
    env["PLATFORM_LAKE_URL"] = lake.url
    command = [
        str(BIN / "dagster"), "asset", "materialize",
        "-m", "platform_assets.definitions", "--select", "raw/airlines",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"refusing to write the lake {lake.url} from a throwaway Dagster instance" in output, output[
        -3000:
    ]
    assert "export DAGSTER_HOME=" in output and ALLOW_THROWAWAY_INSTANCE_ENV in output
    assert not (Path(lake.url) / "raw").exists()  # nothing was written


def test_in_process_runs_refuse_the_environments_lake_unless_named_or_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = local_lake(tmp_path)
    lake.storage.write_bytes("landing/airlines.csv", AIRLINES)
    monkeypatch.setenv("PLATFORM_LAKE_URL", lake.url)
    monkeypatch.delenv(ALLOW_THROWAWAY_INSTANCE_ENV, raising=False)

    refused = _materialize_airlines(LakeResource(), dg.DagsterInstance.ephemeral())
    assert not refused.success
    assert not (Path(lake.url) / "raw").exists()
    errors = [
        getattr(event.event_specific_data, "error", None) for event in refused.all_events if event.is_failure
    ]
    assert any(ThrowawayInstanceError.__name__ in str(e) and "DAGSTER_HOME" in str(e) for e in errors)

    # A lake named on the resource is a deliberate choice (how the tests run).
    named = _materialize_airlines(LakeResource(lake_url=lake.url), dg.DagsterInstance.ephemeral())
    assert named.success and lake.versions.published_version(["raw", "airlines"], None)

    # A persistent instance (DAGSTER_HOME) may write the environment's lake.
    with dg.instance_for_test() as instance:
        assert _materialize_airlines(LakeResource(), instance).success

    monkeypatch.setenv(ALLOW_THROWAWAY_INSTANCE_ENV, "1")  # the documented override
    assert _materialize_airlines(LakeResource(), dg.DagsterInstance.ephemeral()).success
