"""The publish pointer under racing writers: real processes, local lake and S3.

Three publisher processes and one rolling back hammer one partition's pointer at
once; afterwards every pointer move a writer was told succeeded is in the history, in
order, nothing else is, and publishes never went backwards. Readers racing the
writers on S3 never see a torn pointer."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from platform_assets.lake import history
from platform_assets.lake.versions import StalePublishError, VersionStore
from platform_assets_tests import racing
from platform_assets_tests.conftest import Lake

pytestmark = pytest.mark.integration

PUBLISHERS = 3
VERSIONS_EACH = 12
ROLLBACKS = 10


def _audited_versions(store: VersionStore, count: int) -> list[str]:
    versions = []
    for i in range(count):
        table = pa.table({"date": [racing.DAY] * 3, "x": [i, i + 1, i + 2]})
        manifest = store.write_table(racing.KEY, racing.DAY, table, run_id=f"r{i:03d}")
        history.record_audit(store, racing.KEY, racing.DAY, manifest["version"], passed=True)
        versions.append(manifest["version"])
    return versions


def _race(lake: Lake) -> tuple[list[dict], dict]:
    store = lake.versions
    versions = _audited_versions(store, PUBLISHERS * VERSIONS_EACH)
    shares = [versions[i::PUBLISHERS] for i in range(PUBLISHERS)]
    targets = versions[3 : 3 + ROLLBACKS * 3 : 3]
    start_at = time.time() + 2.0  # every process is up before anyone writes
    jobs = [(racing.publisher, (lake.url, lake.endpoint_url, share, start_at)) for share in shares]
    jobs.append((racing.rollbacker, (lake.url, lake.endpoint_url, targets, start_at)))
    moves = [move for done in racing.run(jobs, timeout=240) for move in done]
    return moves, store.pointer(racing.KEY, racing.DAY)


def test_racing_publishers_and_rollbacks_lose_no_history_entry(lake: Lake) -> None:
    moves, pointer = _race(lake)
    entries = pointer["history"]
    recorded = [(e["version"], e["event"], e["at"]) for e in entries]
    succeeded = {(m["version"], m["event"], m["at"]) for m in moves}

    lost = succeeded - set(recorded)
    print(f"{lake.kind}: {len(moves)} pointer moves by 4 processes, {len(lost)} lost")
    assert not lost, f"history entries lost: {sorted(lost)[:5]}"
    assert set(recorded) == succeeded, "the history holds a move no writer made"
    assert len(recorded) == len(succeeded) == pointer["sequence"]
    assert sum(1 for m in moves if m["event"] == "rollback") >= 1

    # Committed in order (newest first), and the pointer is the newest entry.
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    assert pointer["version"] == entries[0]["version"]
    # Publishes never go backwards: only a rollback moves the pointer to an older version.
    chronological = list(reversed(entries))
    for before, after in zip(chronological, chronological[1:], strict=False):
        if after["event"] == "publish":
            assert after["version"] > before["version"], (before, after)

    # The pointer names a complete, audited version.
    store = lake.versions
    manifest = store.manifest(racing.KEY, racing.DAY, pointer["version"])
    assert history.audit_state(store, manifest)[0] == history.AUDIT_PASSED


def test_an_older_version_finishing_last_never_replaces_the_newer(lake: Lake) -> None:
    store = lake.versions
    older, newer = _audited_versions(store, 2)
    store.publish(racing.KEY, racing.DAY, newer)
    with pytest.raises(StalePublishError, match="newer .* is already published"):
        store.publish(racing.KEY, racing.DAY, older)
    pointer = store.pointer(racing.KEY, racing.DAY)
    assert pointer["version"] == newer
    assert [e["version"] for e in pointer["history"]] == [newer]
    # Only a rollback goes back, and the history says so.
    history.rollback(store, racing.KEY, racing.DAY, to=older, reason="newer is wrong")
    assert store.pointer(racing.KEY, racing.DAY)["history"][0]["event"] == "rollback"


@pytest.mark.s3
def test_readers_never_see_a_torn_pointer_on_s3(s3_endpoint: str, tmp_path) -> None:
    from platform_assets_tests.conftest import s3_lake

    lake = s3_lake(s3_endpoint)
    store = lake.versions
    versions = _audited_versions(store, 6)
    store.publish(racing.KEY, racing.DAY, versions[0])
    start_at = time.time() + 3.0
    done = str(tmp_path / "done")
    args = (lake.url, lake.endpoint_url)
    jobs = [(racing.reader, (*args, start_at, done)) for _ in range(2)]
    jobs.append((racing.rewriter, (*args, versions, start_at, 5, done)))
    *results, writes = racing.run(jobs, timeout=180)
    reads = sum(n for n, _ in results)
    errors = [e for _, errs in results for e in errs]
    print(f"s3: {reads} pointer reads during {writes} rewrites, {len(errors)} bad")
    assert writes == 5 * 6 and reads >= 20
    assert errors == []
