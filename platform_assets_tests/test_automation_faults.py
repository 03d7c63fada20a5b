"""Transient storage faults are retried: the same results, with faults injected over real HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.lake.storage import is_transient
from platform_assets.logs import LOGGER_NAME
from platform_assets_tests.conftest import Lake, make_bucket
from platform_assets_tests.faults import INTERNAL_ERROR, RESET, SLOW_DOWN, FaultPolicy, faulty_endpoint
from platform_assets_tests.pipeline import land_days

pytestmark = [pytest.mark.integration, pytest.mark.s3]

DAY = "2013-03-04"


def _published_hashes(lake: Lake) -> dict[str, str]:
    """Content hash of every published partition in the lake, by asset and partition."""
    store = lake.versions
    hashes = {}
    for zone in ("raw", "curated", "serving"):
        for asset in lake.storage.list_names(zone):
            key = [zone, asset]
            for partition in store.partitions(key) or [None]:
                manifest = store.resolve(key, partition)
                hashes[f"{zone}/{asset}/{partition}"] = manifest["content_hash"]
    return hashes


# Every kind of lake IO (landed files, raw copies, Parquet writes and reads, audits,
# pointers) without the serving zone, which adds time but no new kind of request.
SELECTION = [
    ["raw", "airlines"], ["raw", "airports"], ["raw", "planes"], ["curated", "airlines"],
    ["curated", "airports"], ["curated", "planes"], ["raw", "flights"], ["raw", "weather"],
    ["curated", "weather"], ["curated", "flights"],
]  # fmt: skip


def _build(
    lake: Lake, selection: list[list[str]] = SELECTION, days: tuple[str, ...] = (DAY,)
) -> dict[str, str]:
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(lake.resource)
    land_days(lake, days[0], days[-1])
    everything = [*defs.assets, *(defs.asset_checks or [])]
    keys = [dg.AssetKey(k) for k in selection]
    partitioned = {k for a in defs.assets for k in a.keys if a.partitions_def is not None}
    reference = [k for k in keys if k not in partitioned]
    result = dg.materialize(everything, selection=reference, resources=defs.resources, instance=instance)
    assert result.success
    for day in days:
        daily = [k for k in keys if k in partitioned]
        result = dg.materialize(
            everything, selection=daily, partition_key=day, resources=defs.resources, instance=instance
        )
        assert result.success
    return _published_hashes(lake)


@pytest.fixture
def retry_records() -> Iterator[list[dict]]:
    """The structured `storage_retry` records the lake's retry layer logs."""
    records: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            entry = json.loads(record.getMessage())
            if entry.get("event") == "storage_retry":
                records.append(entry)

    handler = Collect()
    logging.getLogger(LOGGER_NAME).addHandler(handler)
    try:
        yield records
    finally:
        logging.getLogger(LOGGER_NAME).removeHandler(handler)


def test_transient_faults_are_classified() -> None:
    assert is_transient(OSError("AWS Error SLOW_DOWN during PutObject operation: Please reduce your rate"))
    assert is_transient(OSError("AWS Error UNKNOWN (HTTP status 503) during HeadObject operation"))
    assert is_transient(OSError("curlCode: 56, Failure when receiving data from the peer"))
    assert is_transient(OSError("AWS Error INTERNAL_FAILURE during GetObject operation: "))
    assert is_transient(ConnectionResetError(104, "Connection reset by peer"))
    assert not is_transient(FileNotFoundError("Path does not exist 'lake/raw/x'"))
    assert not is_transient(PermissionError("AWS Error ACCESS_DENIED during PutObject operation"))
    assert not is_transient(OSError("AWS Error NO_SUCH_BUCKET during ListObjectsV2 operation"))


def test_pipeline_survives_throttling_and_resets_with_identical_results(
    s3_endpoint: str, retry_records: list[dict]
) -> None:
    direct = Lake("s3", f"s3://{make_bucket(s3_endpoint)}/platform", s3_endpoint)
    expected = _build(direct)

    # More consecutive faults than the AWS SDK makes attempts in one call: the lake retries the call.
    policy = FaultPolicy(first_n=8, modes=(SLOW_DOWN, RESET))
    with faulty_endpoint(s3_endpoint, policy) as endpoint:
        faulty = Lake("s3", f"s3://{make_bucket(s3_endpoint)}/platform", endpoint)
        actual = _build(faulty)
    assert policy.total_injected == 8 and set(policy.injected) == {SLOW_DOWN, RESET}
    assert retry_records and retry_records[0]["operation"] in {
        "open",
        "stat",
        "read",
        "write",
        "list",
        "exists",
    }
    assert len(expected) == len(SELECTION)
    assert actual == expected


@pytest.mark.soak
def test_soak_random_faults_over_a_week_of_days(s3_endpoint: str, retry_records: list[dict]) -> None:
    """A week of days through a proxy failing one request in ten, at random: same results."""
    days = tuple(f"2013-03-{d:02d}" for d in range(4, 11))
    direct = Lake("s3", f"s3://{make_bucket(s3_endpoint)}/platform", s3_endpoint)
    expected = _build(direct, days=days)
    policy = FaultPolicy(probability=0.1, modes=(SLOW_DOWN, RESET, INTERNAL_ERROR), seed=7)
    with faulty_endpoint(s3_endpoint, policy) as endpoint:
        faulty = Lake("s3", f"s3://{make_bucket(s3_endpoint)}/platform", endpoint)
        actual = _build(faulty, days=days)
    print(f"soak: {policy.requests} requests, {policy.injected} faults, {len(retry_records)} call retries")
    assert policy.total_injected > 20
    assert actual == expected
