"""Corrupt pointers, manifests and data files: a named error, confined to its partition.

Each case damages one day of a five-day asset the way a bad copy, a full disk or a hand
edit would, then checks what a reader, an operator and `platform verify` get: an error
naming the damaged object, the other four days still readable, `platform status`
listing the problem, and no traceback from any command."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable

import pyarrow as pa
import pytest

from platform_assets.catalog import Catalog, LakeIntegrityWarning
from platform_assets.cli import main
from platform_assets.lake import history, layout
from platform_assets.lake.storage import LakeIntegrityError, LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets_tests.conftest import Lake, local_lake

KEY = ["serving", "things"]
NAME = "serving/things"
DAYS = [f"2013-04-0{d}" for d in range(1, 6)]
BAD = DAYS[1]


def _table(day: str) -> pa.Table:
    # The same shape every day, so a file copied over another day's has the same size.
    return pa.table({"date": [day] * 50, "x": list(range(50)), "y": [float(i) / 3 for i in range(50)]})


def _build(lake: Lake) -> dict[str, dict]:
    store = lake.versions
    manifests = {}
    for day in DAYS:
        manifest = store.write_table(KEY, day, _table(day), run_id="seed")
        history.record_audit(store, KEY, day, manifest["version"], passed=True)
        store.publish(KEY, day, manifest["version"], actor="seed")
        manifests[day] = manifest
    return manifests


def _data_rel(manifest: dict) -> str:
    prefix = layout.version_path(KEY, manifest["partition"], manifest["version"])
    return f"{prefix}/{manifest['files'][0]['name']}"


def _put(storage: LakeStorage, rel: str, data: bytes) -> None:
    storage.write_bytes(rel, data)


def _delete(storage: LakeStorage, rel: str) -> None:
    storage.fs.delete_file(storage.full_path(rel))


Damage = Callable[[LakeStorage, dict[str, dict]], str]


def truncated_pointer(storage: LakeStorage, manifests: dict[str, dict]) -> str:
    rel = layout.pointer_path(KEY, BAD)
    _put(storage, rel, storage.read_bytes(rel)[:37])
    return rel


def empty_pointer(storage: LakeStorage, manifests: dict[str, dict]) -> str:
    rel = layout.pointer_path(KEY, BAD)
    _put(storage, rel, b"{}")
    return rel


def null_pointer(storage: LakeStorage, manifests: dict[str, dict]) -> str:
    rel = layout.pointer_path(KEY, BAD)
    _put(storage, rel, b"null")
    return rel


def truncated_manifest(storage: LakeStorage, manifests: dict[str, dict]) -> str:
    rel = f"{layout.version_path(KEY, BAD, manifests[BAD]['version'])}/{layout.MANIFEST_FILE}"
    _put(storage, rel, storage.read_bytes(rel)[:100])
    return rel


def missing_manifest(storage: LakeStorage, manifests: dict[str, dict]) -> str:
    rel = f"{layout.version_path(KEY, BAD, manifests[BAD]['version'])}/{layout.MANIFEST_FILE}"
    _delete(storage, rel)
    return layout.partition_path(KEY, BAD)


def swapped_data_file(storage: LakeStorage, manifests: dict[str, dict]) -> str:
    other = storage.read_bytes(_data_rel(manifests[DAYS[2]]))
    rel = _data_rel(manifests[BAD])
    assert len(other) == len(storage.read_bytes(rel)), "the swap must not be caught by size alone"
    _put(storage, rel, other)
    return rel


def truncated_data_file(storage: LakeStorage, manifests: dict[str, dict]) -> str:
    rel = _data_rel(manifests[BAD])
    _put(storage, rel, storage.read_bytes(rel)[:-40])
    return rel


def deleted_data_file(storage: LakeStorage, manifests: dict[str, dict]) -> str:
    rel = _data_rel(manifests[BAD])
    _delete(storage, rel)
    return rel


METADATA_DAMAGE = [truncated_pointer, empty_pointer, null_pointer, truncated_manifest, missing_manifest]
DATA_DAMAGE = [swapped_data_file, truncated_data_file, deleted_data_file]


def _cli(lake: Lake, monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    for name, value in lake.env().items():
        monkeypatch.setenv(name, value)
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("damage", METADATA_DAMAGE, ids=lambda d: d.__name__)
def test_corrupt_pointer_or_manifest_is_named_and_confined(
    tmp_path, monkeypatch, capsys, damage: Damage
) -> None:
    lake = local_lake(tmp_path)
    manifests = _build(lake)
    where = damage(lake.storage, manifests)
    catalog = Catalog(lake.storage)

    with pytest.raises((LakeIntegrityError, Exception), match=str(where).split("/")[-1]) as raised:
        catalog.load(NAME, partitions=[BAD])
    assert BAD in str(raised.value)
    good = catalog.load(NAME, partitions=[DAYS[0], DAYS[2]])
    assert sorted(good["date"].unique()) == [DAYS[0], DAYS[2]]

    with pytest.warns(LakeIntegrityWarning, match=BAD):
        whole = Catalog(lake.storage).load(NAME)
    assert sorted(whole["date"].unique()) == [d for d in DAYS if d != BAD]
    assert any(BAD in problem for problem in whole.attrs["lake_problems"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LakeIntegrityWarning)
        count = Catalog(lake.storage).sql("SELECT count(*) AS n FROM serving.things")["n"].iloc[0]
    assert count == 4 * 50

    code, out = _cli(lake, monkeypatch, capsys, "status")
    assert code == 0 and BAD in out and "unreadable" in out
    code, out = _cli(lake, monkeypatch, capsys, "verify")
    assert code == 1 and BAD in out and "Traceback" not in out
    code, out = _cli(lake, monkeypatch, capsys, "versions", NAME, "--partition", DAYS[3])
    assert code == 0
    code, out = _cli(lake, monkeypatch, capsys, "rollback", NAME, "--partition", BAD)
    assert code == 1 and BAD in out and "Traceback" not in out


@pytest.mark.parametrize("damage", DATA_DAMAGE, ids=lambda d: d.__name__)
def test_damaged_data_file_is_an_error_naming_the_file_never_data(
    lake: Lake, monkeypatch, capsys, damage
) -> None:
    manifests = _build(lake)
    rel = damage(lake.storage, manifests)
    uri = lake.storage.uri(rel)
    store = lake.versions

    with pytest.raises(LakeIntegrityError) as raised:
        Catalog(lake.storage).load(NAME, partitions=[BAD])
    assert uri in str(raised.value)
    with pytest.raises(LakeIntegrityError, match=BAD):
        store.read_table(store.resolve(KEY, BAD))  # the pipeline's own reads
    assert len(Catalog(lake.storage).load(NAME, partitions=[DAYS[0]])) == 50

    code, out = _cli(lake, monkeypatch, capsys, "verify", NAME)
    assert code == 1 and uri in out
    code, out = _cli(lake, monkeypatch, capsys, "verify", NAME, "--partitions", DAYS[0])
    assert code == 0 and "no problems" in out


def test_verify_passes_a_clean_lake_and_hashes_every_file(tmp_path, monkeypatch, capsys) -> None:
    lake = local_lake(tmp_path)
    manifests = _build(lake)
    code, out = _cli(lake, monkeypatch, capsys, "verify")
    total = sum(m["bytes"] for m in manifests.values())
    assert code == 0 and "5 version(s), 5 file(s)" in out and f"{total:,} bytes" in out


@pytest.mark.parametrize("to", ["../../..", "v=../x", "20130101T000000000000Z-x/../y"])
def test_rollback_to_a_path_trick_is_refused_with_a_message(tmp_path, monkeypatch, capsys, to: str) -> None:
    lake = local_lake(tmp_path)
    _build(lake)
    code, out = _cli(lake, monkeypatch, capsys, "rollback", NAME, "--partition", BAD, "--to", to)
    assert code == 1 and "not a version id" in out and "Traceback" not in out


def test_rollback_refuses_a_never_audited_version_without_force(tmp_path) -> None:
    lake = local_lake(tmp_path)
    _build(lake)
    store = lake.versions
    orphan = store.write_table(KEY, BAD, _table(BAD), run_id="killed")["version"]  # no audit: a killed run
    with pytest.raises(history.RollbackError, match="never audited"):
        history.rollback(store, KEY, BAD, to=orphan)
    forced = history.rollback(store, KEY, BAD, to=orphan, force=True, reason="known good")
    assert forced.forced and store.published_version(KEY, BAD) == orphan
    assert "forced past unaudited" in store.pointer(KEY, BAD)["history"][0]["reason"]


def test_rolling_back_twice_goes_back_twice_then_forward_says_so(tmp_path) -> None:
    lake = local_lake(tmp_path)
    store = VersionStore(lake.storage)
    versions = []
    for label in ("one", "two", "three"):
        manifest = store.write_table(KEY, BAD, _table(BAD), run_id=label)
        history.record_audit(store, KEY, BAD, manifest["version"], passed=True)
        store.publish(KEY, BAD, manifest["version"])
        versions.append(manifest["version"])
    v1, v2, v3 = versions
    assert history.rollback(store, KEY, BAD).to_version == v2
    assert history.rollback(store, KEY, BAD).to_version == v1
    with pytest.raises(history.RollbackError, match="no earlier published version"):
        history.rollback(store, KEY, BAD)
    forward = history.rollback(store, KEY, BAD, to=v3)
    assert forward.direction == "forward"
    # v2 was rolled back from: going back from v3 skips it.
    assert history.rollback(store, KEY, BAD).to_version == v1
    assert json.loads(store.storage.read_bytes(layout.pointer_path(KEY, BAD)))["sequence"] == 7
