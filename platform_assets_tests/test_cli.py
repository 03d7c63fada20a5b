"""The commands a user types: `platform land` and `dagster asset materialize`."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from platform_assets.cli import main
from platform_assets_tests.conftest import Lake, local_lake, s3_lake

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
        "--select", "tag:domain=flights and not group:ml", "--partition", "2013-06-15",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    store = lake.versions
    for asset in ("carrier_daily_performance", "route_daily", "flight_delay_features"):
        manifest = store.resolve(["serving", asset], "2013-06-15")
        assert manifest["row_count"] > 0
        assert manifest["uri"].startswith("s3://")


def test_land_outside_a_terminal_prints_one_summary_line_and_no_bar(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    lake = local_lake(tmp_path)
    monkeypatch.setenv("PLATFORM_LAKE_URL", lake.url)
    assert main(["land", "--start", "2013-01-01"]) == 0  # no --quiet: captured output is not a terminal
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"landed flights 2013-01-01..2013-01-01 into {lake.storage.uri('landing')}: "
                                "5 written, 0 unchanged"]  # fmt: skip
    assert err == ""  # no progress frames in a log


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, as a developer's shell does."""

    def isatty(self) -> bool:
        return True


def test_land_on_a_terminal_shows_a_progress_bar(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PLATFORM_LAKE_URL", str(tmp_path / "lake"))
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["land", "--start", "2013-01-01"]) == 0
    assert "landing flights" in terminal.getvalue() and "5/5" in terminal.getvalue()


def test_status_columns_say_what_they_hold(tmp_path: Path, monkeypatch, capsys) -> None:
    lake = local_lake(tmp_path)
    monkeypatch.setenv("PLATFORM_LAKE_URL", lake.url)
    store, key = lake.versions, ["curated", "things"]
    days = ["2013-05-01", "2013-05-02", "2013-05-03"]
    for day in days:
        table = pa.table({"date": [day], "x": [1]})
        written = store.write_table(key, day, table, run_id="first")
        if day != "2013-05-03":
            store.publish(key, day, written["version"])
    newer = store.write_table(key, days[0], pa.table({"date": [days[0]], "x": [2]}), run_id="second")
    assert newer["version"] != store.published_version(key, days[0])  # written, not published

    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1]
    assert re.split(r"\s{2,}", header) == [
        "ASSET", "PARTITIONS WRITTEN", "PARTITIONS PUBLISHED", "LAST PUBLISHED AT",
        "PARTITIONS HELD BACK", "HELD BACK (FIRST 3)",
    ]  # fmt: skip
    row = dict(zip(re.split(r"\s{2,}", header), re.split(r"\s{2,}", lines[2]), strict=True))
    assert row["ASSET"] == "curated/things"
    assert row["PARTITIONS WRITTEN"] == "3" and row["PARTITIONS PUBLISHED"] == "2"
    assert row["LAST PUBLISHED AT"] == store.pointer(key, days[1])["published_at"]
    assert row["PARTITIONS HELD BACK"] == "2" and row["HELD BACK (FIRST 3)"] == "2013-05-01,2013-05-03"
