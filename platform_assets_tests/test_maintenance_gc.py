"""Garbage collection deletes exactly what retention allows, never what a reader may need.

The lake (gc_lake.py) holds interrupted writes, superseded versions, a rollback window,
a downstream manifest naming an old upstream version, quarantine of two classifications,
canaries and landed files; the deletable set is written down from how it was built."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import pyarrow.fs as pafs
import pytest

from platform_assets import cli
from platform_assets.governance import audit_log
from platform_assets.lake import layout
from platform_assets.maintenance import gc
from platform_assets.maintenance.retention import RetentionConfigError, RetentionPolicy
from platform_assets_tests import gc_lake
from platform_assets_tests.conftest import Lake
from platform_assets_tests.gc_crash import CRASH_EXIT_CODE


def _all_files(lake: Lake) -> dict[str, int]:
    """Every object under the lake root except audit records, from one raw listing."""
    storage = lake.storage
    infos = storage.fs.get_file_info(pafs.FileSelector(storage.root, recursive=True))
    files = {i.path[len(storage.root) + 1 :]: i.size for i in infos if i.type == pafs.FileType.File}
    return {p: n for p, n in files.items() if not p.startswith(audit_log.AUDIT_ROOT)}


def _under(paths: set[str], prefixes: set[str]) -> set[str]:
    return {p for p in paths if any(p == q or p.startswith(f"{q}/") for q in prefixes)}


def test_gc_deletes_exactly_the_deletable_set_and_nothing_published(lake: Lake) -> None:
    built = gc_lake.build(lake.storage)
    policy = built.policy()
    before_files = _all_files(lake)
    before_reads = gc_lake.published_bytes(lake.storage)

    dry = gc.collect(lake.storage, policy, now=built.now)
    assert {c.path for c in dry.planned} == built.expected
    assert _all_files(lake) == before_files, "a dry run deletes nothing"
    expected_files = _under(set(before_files), built.expected)
    assert dry.bytes_planned == sum(before_files[p] for p in expected_files)

    applied = gc.collect(lake.storage, policy, apply=True, now=built.now)
    assert {c.path for c in applied.deleted} == built.expected
    assert applied.skipped == []
    assert applied.bytes_reclaimed == sum(before_files[p] for p in expected_files)
    after_files = _all_files(lake)
    assert set(after_files) == set(before_files) - expected_files
    for kept, why in built.kept.items():
        assert _under(set(after_files), {kept}), f"{kept} was deleted, but it is {why}"
    assert gc_lake.published_bytes(lake.storage) == before_reads, "published reads are byte-identical"

    again = gc.collect(lake.storage, policy, apply=True, now=built.now)
    assert again.planned == [] and again.deleted == []
    assert _all_files(lake) == after_files

    deletions = audit_log.read_records(lake.storage, action=audit_log.ACTION_GC_DELETE)
    assert sorted(r.details["path"] for r in deletions) == sorted(built.expected)
    assert all(r.service == gc.GC_SERVICE and r.outcome == audit_log.OUTCOME_OK for r in deletions)


def test_a_publish_after_the_scan_wins_over_the_plan(lake: Lake) -> None:
    """The delete function re-reads the pointer: a version rolled back to since the plan stays."""
    built = gc_lake.build(lake.storage, gap_s=1.5)
    policy = built.policy()
    scan, planned = gc.plan(lake.storage, policy, built.now)
    (superseded,) = [c for c in planned if c.kind == "superseded"]
    from platform_assets.lake.versions import VersionStore

    store = VersionStore(lake.storage)  # an operator rolls back to it while gc runs
    store.publish(superseded.asset_key, superseded.partition, superseded.version, event="rollback", actor="t")
    assert gc.delete(lake.storage, superseded, scan, policy, built.now) == "published"
    assert lake.storage.exists(f"{superseded.path}/{layout.MANIFEST_FILE}")


def test_a_crash_mid_gc_loses_nothing_published(tmp_path) -> None:
    """Kill gc at its third file deletion; published data is intact, and the next run finishes."""
    from platform_assets_tests.conftest import local_lake

    lake = local_lake(tmp_path)
    built = gc_lake.build(lake.storage, gap_s=1.5)
    before_reads = gc_lake.published_bytes(lake.storage)
    before_files = set(_all_files(lake))
    args = [lake.url, "-", built.now.isoformat(), str(built.threshold.total_seconds()), "3"]
    crashed = subprocess.run([sys.executable, "-m", "platform_assets_tests.gc_crash", *args], check=False)
    assert crashed.returncode == CRASH_EXIT_CODE
    middle = set(_all_files(lake))
    assert before_files - middle, "the crash happened after some deletions"
    assert _under(before_files - middle, built.expected) == before_files - middle, "only deletable files went"
    assert gc_lake.published_bytes(lake.storage) == before_reads
    for path in middle:  # every version that still has a manifest still has all its files
        if path.endswith(f"/{layout.MANIFEST_FILE}"):
            folder = path.rsplit("/", 1)[0]
            assert {p for p in before_files if p.startswith(f"{folder}/")} <= middle, folder

    finished = gc.collect(lake.storage, built.policy(), apply=True, now=built.now)
    assert set(_all_files(lake)) == before_files - _under(before_files, built.expected)
    assert {c.path for c in finished.deleted} <= built.expected
    assert gc_lake.published_bytes(lake.storage) == before_reads


def _packaged_config() -> str:
    return resources.files("platform_assets.maintenance").joinpath("retention.toml").read_text()


def test_gc_command_is_a_dry_run_unless_applied(lake: Lake, monkeypatch, capsys, tmp_path) -> None:
    for name, value in lake.env().items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "retention.toml"  # no grace: the write below is interrupted, not in flight
    config.write_text(_packaged_config().replace("in_flight_hours = 6", "in_flight_hours = 0")
                      .replace("interrupted_hours = 48", "interrupted_hours = 0"))  # fmt: skip
    storage = lake.storage
    storage.write_bytes(
        "curated/things/date=2013-01-01/v=20000101T000000000000Z-killed/part-00000.parquet", b"x"
    )
    assert cli.main(["gc", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "interrupted" in out and "would delete (dry run" in out and "1 item(s)" in out
    assert storage.exists("curated/things/date=2013-01-01/v=20000101T000000000000Z-killed/part-00000.parquet")
    assert cli.main(["gc", "--apply", "--config", str(config)]) == 0
    assert "deleted 1 item(s)" in capsys.readouterr().out
    assert not storage.exists(
        "curated/things/date=2013-01-01/v=20000101T000000000000Z-killed/part-00000.parquet"
    )


def test_retention_config_errors_name_the_key(tmp_path) -> None:
    assert RetentionPolicy.load().superseded["serving"].keep_versions == 1  # the packaged file is valid
    text = tmp_path / "bad.toml"
    packaged = _packaged_config()
    text.write_text(packaged.replace("keep_versions = 1", "keep_version = 1"))
    with pytest.raises(RetentionConfigError, match=r"superseded.serving.*keep_version"):
        RetentionPolicy.load(text)
    text.write_text(packaged.replace("restricted = 7", "restricted = -7"))
    with pytest.raises(RetentionConfigError, match=r"quarantine_days.restricted = -7"):
        RetentionPolicy.load(text)


def test_daily_gc_job_runs_and_its_schedule_is_on_outside_dev(tmp_path, monkeypatch) -> None:
    import os
    import time

    import dagster as dg

    from platform_assets.definitions import build_definitions
    from platform_assets.maintenance import gc_job
    from platform_assets_tests.conftest import local_lake

    lake = local_lake(tmp_path)
    crashed = "serving/summary/date=2013-01-01/v=20000101T000000000000Z-killed/part-00000.parquet"
    lake.storage.write_bytes(crashed, b"partial")
    three_days_ago = time.time() - 3 * 86400  # past the packaged 48-hour interrupted grace
    os.utime(lake.storage.full_path(crashed), (three_days_ago, three_days_ago))

    defs = build_definitions(lake.resource)
    result = defs.get_job_def(gc_job.GC_JOB).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    (output,) = [e for e in result.events_for_node("collect_garbage") if e.is_successful_output]
    assert output.step_output_data.metadata["bytes_reclaimed"].value == len(b"partial")
    assert not lake.storage.exists(crashed)

    statuses = {}
    for env in ("dev", "staging", "prod"):
        monkeypatch.setenv("PLATFORM_ENV", env)
        schedule = next(s for s in build_definitions(lake.resource).schedules if s.name == gc_job.GC_SCHEDULE)
        statuses[env] = schedule.default_status
    assert statuses == {
        "dev": dg.DefaultScheduleStatus.STOPPED,
        "staging": dg.DefaultScheduleStatus.RUNNING,
        "prod": dg.DefaultScheduleStatus.RUNNING,
    }


def test_a_damaged_pointer_keeps_every_complete_version(tmp_path) -> None:
    """What a corrupt pointer publishes, or its manifest names upstream, is unknown: keep them all."""
    from platform_assets_tests.conftest import local_lake

    lake = local_lake(tmp_path)
    built = gc_lake.build(lake.storage, gap_s=1.5)
    summary_pointer = layout.pointer_path(gc_lake.SUMMARY, gc_lake.DAY)
    lake.storage.write_bytes(summary_pointer, b'{"version": "2013')  # torn
    report = gc.collect(lake.storage, built.policy(), apply=True, now=built.now)
    assert report.problems and summary_pointer in report.problems[0]
    superseded = {p for p in built.expected if p.startswith("curated/things/") and "killed" not in p}
    assert {c.path for c in report.deleted} == built.expected - superseded
    assert all(lake.storage.exists(f"{p}/{layout.MANIFEST_FILE}") for p in superseded)
