"""Version history and rollback: one pointer write, back as far as asked, never onto a failed audit."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pytest

from platform_assets.catalog import Catalog
from platform_assets.cli import main
from platform_assets.lake import history, layout, publish_index
from platform_assets.lake.versions import VersionStore
from platform_assets_tests.conftest import Lake
from platform_assets_tests.counting_fs import counting_storage

KEY = ["curated", "things"]
NAME = "curated/things"
DAY = "2013-04-02"


def _table(n: int, label: str) -> pa.Table:
    return pa.table({"date": [DAY] * n, "x": list(range(n)), "label": [label] * n})


def _write(
    store: VersionStore, n: int, label: str, *, passed: bool | None = True, publish: bool = True
) -> str:
    manifest = store.write_table(KEY, DAY, _table(n, label), run_id=label)
    if passed is not None:
        checks = {"contract": {"passed": passed, "severity": "ERROR", "description": label}}
        history.record_audit(store, KEY, DAY, manifest["version"], passed=passed, checks=checks)
    if publish:
        store.publish(KEY, DAY, manifest["version"], actor=f"run:{label}")
    return manifest["version"]


def _data_bytes(store: VersionStore) -> list[bytes]:
    """The bytes a reader of the published version gets, file by file."""
    manifest = store.resolve(KEY, DAY)
    prefix = layout.version_path(KEY, DAY, manifest["version"])
    return [store.storage.read_bytes(f"{prefix}/{f['name']}") for f in manifest["files"]]


def _lake_files(lake: Lake) -> dict[str, int]:
    """Every file but the ones a pointer move rewrites: the pointer and its publish index entry."""
    return {
        f.path: f.size
        for f in lake.storage.list_files(NAME)
        if not f.path.endswith(layout.POINTER_FILE) and not publish_index.is_index_path(f.path)
    }


def test_publish_stack_goes_back_through_what_was_published() -> None:
    def entry(version: str, event: str = history.EVENT_PUBLISH) -> dict:
        return {"version": version, "event": event}

    def stack(*entries: dict) -> list[str]:
        return history.publish_stack({"version": entries[-1]["version"], "history": list(reversed(entries))})

    a, b, c, d = (f"20130101T00000000000{i}Z-x" for i in range(4))
    assert stack(entry(a), entry(b), entry(c)) == [a, b, c]
    assert stack(entry(a), entry(b), entry(c), entry(b, "rollback")) == [a, b]
    assert stack(entry(a), entry(b), entry(c), entry(b, "rollback"), entry(a, "rollback")) == [a]
    # A publish after a rollback: "previous" is what readers had, not the abandoned version.
    assert stack(entry(a), entry(b), entry(c), entry(a, "rollback"), entry(d)) == [a, d]
    # Rolling "back" to a version never published drops everything written after it.
    assert stack(entry(a), entry(c), entry(b, "rollback")) == [a, b]
    assert history.publish_stack(None) == []


def test_rollback_restores_identical_reads_and_goes_back_twice(lake: Lake, monkeypatch) -> None:
    monkeypatch.setenv("PLATFORM_USER", "alice")
    store = lake.versions
    v1, v2, v3 = (_write(store, n, label) for n, label in ((10, "one"), (20, "two"), (30, "three")))
    reads = {}
    for version in (v1, v2, v3):
        pinned = store.resolve(KEY, DAY, version)
        prefix = layout.version_path(KEY, DAY, version)
        reads[version] = [store.storage.read_bytes(f"{prefix}/{f['name']}") for f in pinned["files"]]
    files_before = _lake_files(lake)

    # Through a counting filesystem: a rollback opens no data file and copies nothing.
    counted, counter = counting_storage(lake.storage)
    first = history.rollback(VersionStore(counted), KEY, DAY, reason="three is wrong")
    assert (first.from_version, first.to_version) == (v3, v2)
    assert not counter.opened_files(".parquet")
    assert _lake_files(lake) == files_before
    assert _data_bytes(store) == reads[v2]
    assert Catalog(lake.storage).table(NAME).equals(_table(20, "two"))
    print(f"\n[{lake.kind}] rollback took {first.seconds * 1000:.1f} ms")

    second = history.rollback(store, KEY, DAY, reason="two is wrong too")
    assert (second.from_version, second.to_version) == (v2, v1)
    assert _data_bytes(store) == reads[v1]
    with pytest.raises(history.RollbackError, match="no earlier published version"):
        history.rollback(store, KEY, DAY)

    pointer = store.pointer(KEY, DAY)
    latest, before = pointer["history"][:2]
    assert (latest["version"], latest["event"], latest["actor"]) == (v1, "rollback", "alice")
    assert latest["reason"] == "two is wrong too" and before["reason"] == "three is wrong"
    assert pointer["checks"]["audit"] == history.AUDIT_PASSED

    # A new publish, then a rollback: back to what readers had before it, not to v3.
    v4 = _write(store, 40, "four")
    assert history.rollback(store, KEY, DAY).to_version == v1
    states = {v.version: v.state for v in history.version_history(store, KEY, DAY)}
    assert states == {
        v1: history.STATE_PUBLISHED,
        v2: history.STATE_ROLLED_BACK,
        v3: history.STATE_ROLLED_BACK,
        v4: history.STATE_ROLLED_BACK,
    }


def test_rollback_refuses_a_failed_version_unless_forced(lake: Lake) -> None:
    store = lake.versions
    _write(store, 10, "one")
    current = _write(store, 20, "two")
    failed = _write(store, 30, "bad", passed=False, publish=False)
    pointer_bytes = lake.storage.read_bytes(layout.pointer_path(KEY, DAY))

    with pytest.raises(history.RollbackError, match="failed its audit"):
        history.rollback(store, KEY, DAY, to=failed)
    with pytest.raises(history.RollbackError, match="already the published"):
        history.rollback(store, KEY, DAY, to=current)
    with pytest.raises(history.RollbackError, match="no complete version"):
        history.rollback(store, KEY, DAY, to=layout.new_version_id("nothing"))
    assert lake.storage.read_bytes(layout.pointer_path(KEY, DAY)) == pointer_bytes

    forced = history.rollback(store, KEY, DAY, to=failed, force=True, reason="investigating")
    assert forced.forced and store.published_version(KEY, DAY) == failed
    entry = store.pointer(KEY, DAY)["history"][0]
    assert entry["reason"] == "[forced past failed audit] investigating"
    assert store.pointer(KEY, DAY)["checks"]["forced"] is True


def test_cli_lists_versions_rolls_back_and_tells_dagster(lake: Lake, monkeypatch, capsys) -> None:
    for name, value in {**lake.env(), "PLATFORM_USER": "bob"}.items():
        monkeypatch.setenv(name, value)
    store = lake.versions
    v1 = _write(store, 10, "one")
    v2 = _write(store, 20, "two")
    failed = _write(store, 30, "bad", passed=False, publish=False)

    assert main(["versions", NAME, "--partition", DAY]) == 0
    listing = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:3] for line in listing.splitlines()[1:]}
    assert rows == {
        failed: ["unpublished", "failed"],
        v2: ["published", "passed"],
        v1: ["superseded", "passed"],
    }
    assert "failed: contract" in listing

    assert main(["rollback", NAME, "--partition", DAY, "--to", failed]) == 1
    assert "failed its audit" in capsys.readouterr().err
    assert main(["rollback", NAME, "--partition", DAY, "--reason", "bad numbers"]) == 0
    assert f"{v2} -> {v1}" in capsys.readouterr().out
    assert store.published_version(KEY, DAY) == v1

    # The rollback is the partition's latest materialization in Dagster, coherent with what
    # readers see: the restored version's own URI, manifest and data version.
    instance = dg.DagsterInstance.get()
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(KEY), asset_partitions=[DAY]), limit=1
    ).records
    observed = records[0].asset_materialization
    restored = store.resolve(KEY, DAY)
    assert observed.partition == DAY
    assert observed.tags["dagster/data_version"] == restored["content_hash"]
    assert observed.metadata["dagster/uri"].value == restored["uri"]
    assert observed.metadata["dagster/row_count"].value == 10
    assert observed.metadata["platform/version"].value == v1
    assert observed.metadata["platform/previous_version"].value == v2
    assert observed.metadata["platform/actor"].value == "bob"
    assert observed.metadata["platform/reason"].value == "bad numbers"
    assert observed.metadata["platform/manifest_uri"].url == store.resolve(KEY, DAY)["manifest_uri"]

    assert main(["status", NAME]) == 0
    assert NAME in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["rollback", "../etc", "--partition", DAY])
