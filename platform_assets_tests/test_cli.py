"""The commands a user types: `platform land` and `dagster asset materialize`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from platform_assets.cli import main
from platform_assets_tests.conftest import Lake, s3_lake

BIN = Path(sys.executable).parent


def test_land_is_idempotent_and_validates_days(lake: Lake, monkeypatch, capsys) -> None:
    for name, value in lake.env().items():
        monkeypatch.setenv(name, value)
    assert main(["land", "--start", "2013-01-01", "--end", "2013-01-02", "--quiet"]) == 0
    assert "7 written, 0 unchanged" in capsys.readouterr().out
    storage = lake.storage
    assert storage.list_names("landing/flights") == ["2013-01-01.csv", "2013-01-02.csv"]
    landed = storage.read_bytes("landing/flights/2013-01-01.csv")
    assert landed.startswith(b"year,month,day,dep_time,sched_dep_time,")
    assert landed.count(b"\n") == 842 + 1  # every flight of the day plus the header

    assert main(["land", "--start", "2013-01-01", "--end", "2013-01-02", "--quiet"]) == 0
    assert "0 written, 7 unchanged" in capsys.readouterr().out
    assert main(["land", "--if-empty", "--start", "2013-01-03", "--quiet"]) == 0
    assert not storage.exists("landing/flights/2013-01-03.csv")

    with pytest.raises(SystemExit):
        main(["land", "--start", "../../etc"])
    assert "not a date" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.s3
def test_dagster_cli_materializes_one_day_on_s3(s3_endpoint: str, tmp_path: Path) -> None:
    """The documented command, as a user runs it, against an S3 endpoint."""
    lake = s3_lake(s3_endpoint)
    env = {**os.environ, **lake.env(), "DAGSTER_HOME": str(tmp_path)}
    land = [str(BIN / "platform"), "land", "--quiet", "--start", "2013-06-15"]
    subprocess.run(land, env=env, check=True, capture_output=True, timeout=120)
    command = [
        str(BIN / "dagster"), "asset", "materialize", "-m", "platform_assets.definitions",
        "--select", "not group:ml", "--partition", "2013-06-15",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    store = lake.versions
    for asset in ("carrier_daily_performance", "route_daily", "flight_delay_features"):
        manifest = store.resolve(["serving", asset], "2013-06-15")
        assert manifest["row_count"] > 0
        assert manifest["uri"].startswith("s3://")
