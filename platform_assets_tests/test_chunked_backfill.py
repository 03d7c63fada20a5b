"""A chunked multi-run backfill over a synthetic history publishes what the one-year path does.

Lake A gets a synthetic history across a year boundary (the real 2013 days plus days
of 2012 built from 2013, benchmarks/synthetic_history.py) and is built by `platform
backfill --chunk-days 2 --workers 2`, each run made the way `dagster asset materialize`
makes it, against a SQLite instance. Lake B gets the real 2013 days and is built in one single-run
backfill. For the 2013 days both hold, every published curated and serving table
must be equal, and every run the chunked backfill made must have held at most two
partitions (read from the runs' own partition-range tags in the instance)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from benchmarks.synthetic_history import land_history, source_day
from platform_assets.catalog import Catalog
from platform_assets.lake.storage import LakeStorage
from platform_assets.maintenance.backfill import Chunk, chunks, run_backfill
from platform_assets_tests.conftest import local_lake
from platform_assets_tests.pipeline import land_days, materialize_daily, materialize_reference

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
HISTORY = ("2012-12-30", "2013-01-02")
OVERLAP = ["2013-01-01", "2013-01-02"]
TABLES = [
    "curated/flights", "curated/weather", "serving/carrier_daily_performance", "serving/route_daily",
    "serving/flight_delay_features",
]  # fmt: skip


def test_chunks_cover_the_range_in_bounded_runs() -> None:
    plan = chunks(date(2012, 2, 27), date(2012, 3, 2), 2)  # across a leap day
    assert [(c.start.isoformat(), c.end.isoformat()) for c in plan] == [
        ("2012-02-27", "2012-02-28"), ("2012-02-29", "2012-03-01"), ("2012-03-02", "2012-03-02"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="chunk-days"):
        chunks(date(2013, 1, 1), date(2013, 1, 2), 0)


def test_synthetic_days_keep_weekdays_and_map_leap_days() -> None:
    for day in (date(2012, 2, 29), date(2008, 12, 31), date(2009, 12, 31), date(2004, 1, 1)):
        assert source_day(day).weekday() == day.weekday() or source_day(day) in (
            date(2013, 1, 1),
            date(2013, 12, 31),
        )
        assert source_day(day).year == 2013
    assert source_day(date(2013, 7, 4)) == date(2013, 7, 4)


def test_chunked_history_publishes_what_the_one_year_path_does(tmp_path: Path) -> None:
    chunked = local_lake(tmp_path / "chunked")
    land_history(chunked.storage, date.fromisoformat(HISTORY[0]), date.fromisoformat(HISTORY[1]))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {
        **os.environ,
        **chunked.env(),
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO),
        "PLATFORM_HISTORY_START": "2012-12-01",
    }
    argv = [
        str(Path(sys.executable).with_name("platform")), "backfill",
        "--start", HISTORY[0], "--end", HISTORY[1],
        "--chunk-days", "2", "--workers", "2", "--module", "benchmarks.locations.platform_history",
        "--logs", str(tmp_path / "logs"),
    ]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

    one_year = local_lake(tmp_path / "one_year")
    land_days(one_year, OVERLAP[0], OVERLAP[-1])
    with dg.instance_for_test() as instance:
        materialize_reference(one_year, instance)
        materialize_daily(one_year, instance, OVERLAP[0], OVERLAP[-1])

    a, b = Catalog(LakeStorage.from_url(chunked.url)), Catalog(LakeStorage.from_url(one_year.url))
    for table in TABLES:
        assert set(OVERLAP) <= set(a.partitions(table)), table
        left = a.load(table, OVERLAP).reset_index(drop=True)
        right = b.load(table, OVERLAP).reset_index(drop=True)
        assert len(left) > 0, table
        pd.testing.assert_frame_equal(left, right, check_like=False, obj=table)
    # The synthetic 2012 days were published too, with their own dates.
    assert "2012-12-30" in a.partitions("serving/route_daily")
    assert set(a.load("curated/flights", ["2012-12-30"])["date"]) == {"2012-12-30"}

    runs = dg.DagsterInstance.from_config(str(home)).get_runs()
    ranges = [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in runs
        if "dagster/asset_partition_range_start" in r.tags
    ]
    assert len(ranges) == 2
    for first, last in ranges:
        assert (date.fromisoformat(last) - date.fromisoformat(first)).days + 1 <= 2


TINY_LOCATION = """
import os
from pathlib import Path

import dagster as dg

OUT = Path(os.environ["TINY_OUT"])
with (OUT / "imports").open("a") as f:
    f.write(f"{os.getpid()}\\n")

@dg.asset(tags={"domain": "flights"})
def reference() -> int:
    return 1

@dg.asset(
    partitions_def=dg.DailyPartitionsDefinition(start_date="2013-01-01", end_date="2013-02-01"),
    backfill_policy=dg.BackfillPolicy.single_run(),
    tags={"domain": "flights"},
    io_manager_key="mem",
)
def daily(context: dg.AssetExecutionContext, reference: int) -> None:
    days = context.partition_keys
    if os.environ.get("TINY_BAD_DAY") in days:
        raise ValueError(f"bad day {os.environ['TINY_BAD_DAY']} in {days[0]}..{days[-1]}")
    with (OUT / "runs").open("a") as f:
        f.write(f"{os.getpid()} {days[0]} {days[-1]}\\n")

class Nothing(dg.IOManager):
    def handle_output(self, context, obj) -> None: ...
    def load_input(self, context) -> int: return 1

defs = dg.Definitions(
    assets=[reference, daily], resources={"mem": Nothing(), "io_manager": Nothing()},
    executor=dg.in_process_executor,
)
"""


@pytest.fixture
def tiny_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A two-asset code location that records each import and each run's process and days."""
    (tmp_path / "tiny_location.py").write_text(TINY_LOCATION)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TINY_OUT", str(tmp_path))
    return tmp_path


def test_each_worker_imports_the_location_once_and_makes_its_chunks_runs(tiny_location: Path) -> None:
    report = run_backfill(
        date(2013, 1, 1), date(2013, 1, 5), 2, 1, module="tiny_location", domain="flights",
        logs=tiny_location / "logs", say=lambda _: None,
    )  # fmt: skip
    assert report.ok, report.failed
    imports = (tiny_location / "imports").read_text().split()
    assert len(imports) == 1 and int(imports[0]) != os.getpid()  # one worker, not this process
    runs = [line.split() for line in (tiny_location / "runs").read_text().splitlines()]
    assert runs == [
        [imports[0], "2013-01-01", "2013-01-02"], [imports[0], "2013-01-03", "2013-01-04"],
        [imports[0], "2013-01-05", "2013-01-05"],
    ]  # fmt: skip
    recorded = dg.DagsterInstance.get().get_runs()
    assert len(recorded) == 4 and all(r.is_success for r in recorded)  # reference + three chunks
    assert (tiny_location / "logs" / "2013-01-03_2013-01-04.log").exists()


def test_a_failed_chunk_names_its_log_and_stops_new_chunks(
    tiny_location: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINY_BAD_DAY", "2013-01-03")
    said: list[str] = []
    report = run_backfill(
        date(2013, 1, 1), date(2013, 1, 6), 2, 1, module="tiny_location", domain="flights",
        logs=tiny_location / "logs", say=said.append,
    )  # fmt: skip
    failed = Chunk(date(2013, 1, 3), date(2013, 1, 4))
    assert not report.ok and list(report.failed) == [failed]
    assert list(report.seconds) == [Chunk(date(2013, 1, 1), date(2013, 1, 2))]  # 5..6 never started
    log = report.failed[failed].read_text()
    assert "bad day 2013-01-03 in 2013-01-03..2013-01-04" in log
    assert any(str(report.failed[failed]) in line and "no new chunks" in line for line in said)
    # The failed run wrote nothing; the chunk after it never ran.
    assert len((tiny_location / "runs").read_text().splitlines()) == 1
