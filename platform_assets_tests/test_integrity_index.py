"""The publish index under concurrency and crashes: never trusted stale, repaired, complete.

Publishes of different partitions of one asset race on one index shard; a publish
that dies between its pointer write and its index write leaves the index behind the
pointer. Readers must still get what the pointers publish (checked against the data
each version was written with), and `repair` / the next publish must bring it level."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from platform_assets.catalog import Catalog
from platform_assets.cli import main
from platform_assets.lake import history, publish_index
from platform_assets.lake.storage import LakeStorage
from platform_assets_tests import racing
from platform_assets_tests.conftest import Lake

DAYS = [f"2013-05-{d:02d}" for d in range(1, 13)]
WORKERS = 3


def _table(day: str, value: int) -> pa.Table:
    return pa.table({"date": [day] * 3, "x": [value, value + 1, value + 2]})


def _shard(storage: LakeStorage, month: str = "2013-05") -> dict:
    shard = publish_index.read_shard(storage, racing.KEY, month)
    assert shard is not None
    return shard


def test_racing_publishers_of_different_partitions_lose_no_index_entry(lake: Lake) -> None:
    store = lake.versions
    written = {
        day: store.write_table(racing.KEY, day, _table(day, i), run_id=f"r{i:03d}")
        for i, day in enumerate(DAYS)
    }
    shares = [[(d, written[d]["version"]) for d in DAYS[i::WORKERS]] for i in range(WORKERS)]
    start_at = time.time() + 4.0  # after every spawned process has imported the platform
    jobs = [(racing.partition_publisher, (lake.url, lake.endpoint_url, s, start_at)) for s in shares]
    assert sum(racing.run(jobs, timeout=120)) == len(DAYS)

    shard = _shard(lake.storage)
    assert sorted(shard["partitions"]) == DAYS
    for day in DAYS:
        assert (
            shard["partitions"][day]["version"]
            == store.published_version(racing.KEY, day)
            == written[day]["version"]
        )
    assert publish_index.repair(store, racing.KEY) == []  # every entry names its pointer's very token
    frame = Catalog(lake.storage).load("/".join(racing.KEY))
    expected = {day: [i, i + 1, i + 2] for i, day in enumerate(DAYS)}
    assert {d: sorted(g["x"].tolist()) for d, g in frame.groupby("date")} == expected


def _written(store, day: str, value: int, run_id: str) -> dict:
    manifest = store.write_table(racing.KEY, day, _table(day, value), run_id=run_id)
    history.record_audit(store, racing.KEY, day, manifest["version"], passed=True)
    return manifest


def test_a_publish_that_dies_before_its_index_write_is_never_read_stale(
    lake: Lake, monkeypatch, capsys
) -> None:
    store, storage = lake.versions, lake.storage
    for variable, value in lake.env().items():
        monkeypatch.setenv(variable, value)
    name = "/".join(racing.KEY)
    first = {}
    for i, day in enumerate(DAYS[:3]):
        first[day] = _written(store, day, 10 * i, "first")
        store.publish(racing.KEY, day, first[day]["version"])
    rel = publish_index.shard_path(racing.KEY, "2013-05")
    before = storage.read_bytes(rel)

    # The crash: pointers move (a republished day and a first publish of a new day), and
    # the shard stays what it was, as if each process died right after its pointer write.
    second = _written(store, DAYS[0], 500, "second")
    store.publish(racing.KEY, DAYS[0], second["version"])
    new_day = _written(store, DAYS[3], 700, "second")
    store.publish(racing.KEY, DAYS[3], new_day["version"])
    storage.write_bytes(rel, before)
    assert _shard(storage)["partitions"][DAYS[0]]["version"] == first[DAYS[0]]["version"]  # stale

    catalog = Catalog(storage)
    whole = catalog.load(name)
    by_day = {d: sorted(g["x"].tolist()) for d, g in whole.groupby("date")}
    assert by_day == {
        DAYS[0]: [500, 501, 502],
        DAYS[1]: [10, 11, 12],
        DAYS[2]: [20, 21, 22],
        DAYS[3]: [700, 701, 702],
    }
    read = {(r["partition"], r["version"]) for r in whole.attrs["lake_reads"]}
    assert (DAYS[0], second["version"]) in read and (DAYS[3], new_day["version"]) in read
    day = catalog.sql("SELECT sum(x) AS s FROM race WHERE date = $d", {"d": DAYS[0]})
    assert day["s"].tolist() == [1503]

    assert main(["verify", name]) == 0  # a lagging index is not damage: readers read the pointers
    out = capsys.readouterr().out
    assert (
        "lagging" in out and f"{DAYS[0]}: index named {first[DAYS[0]]['version']}" in out and DAYS[3] in out
    )
    assert main(["verify", name, "--repair-index"]) == 0
    assert second["version"] in capsys.readouterr().out
    shard = _shard(storage)
    assert shard["partitions"][DAYS[0]]["version"] == second["version"]
    assert shard["partitions"][DAYS[3]]["version"] == new_day["version"]
    assert publish_index.repair(store, racing.KEY) == []

    # A rollback moves the pointer through publish too: the index follows it.
    history.rollback(store, racing.KEY, DAYS[0], to=first[DAYS[0]]["version"], reason="test")
    assert _shard(storage)["partitions"][DAYS[0]]["version"] == first[DAYS[0]]["version"]
    assert publish_index.repair(store, racing.KEY, apply=False) == []

    # The next publish of a partition also brings its entry level after a lost index write.
    storage.write_bytes(rel, before)
    third = _written(store, DAYS[1], 900, "third")
    store.publish(racing.KEY, DAYS[1], third["version"])
    assert _shard(storage)["partitions"][DAYS[1]]["version"] == third["version"]


def test_a_batch_of_publishes_writes_each_shard_once_and_also_when_it_fails(lake: Lake, monkeypatch) -> None:
    """What an audit of a month does: every pointer moves at its publish, the index once per shard."""
    store, storage = lake.versions, lake.storage
    days = ["2013-04-29", "2013-04-30", *DAYS[:4]]
    written = {day: _written(store, day, 10 * i, "batch") for i, day in enumerate(days)}
    shard_writes: list[str] = []
    write_object_if = storage.write_object_if

    def counted(rel: str, body: bytes, expected: str | None = None) -> str:
        if publish_index.is_index_path(rel):
            shard_writes.append(rel)
        return write_object_if(rel, body, expected=expected)

    monkeypatch.setattr(storage, "write_object_if", counted)
    with store.index_batch():
        for day in days:
            store.publish(racing.KEY, day, written[day]["version"])
        assert shard_writes == []  # nothing yet: the pointers are the truth, and readers read them
        whole = Catalog(storage).load("/".join(racing.KEY))
        assert sorted(whole["date"].unique()) == days
    assert sorted(shard_writes) == [
        publish_index.shard_path(racing.KEY, "2013-04"),
        publish_index.shard_path(racing.KEY, "2013-05"),
    ]
    assert sorted([*_shard(storage, "2013-04")["partitions"], *_shard(storage)["partitions"]]) == days
    assert publish_index.repair(store, racing.KEY, apply=False) == []

    # A block that raises after some publishes still records the pointers that moved.
    again = {day: _written(store, day, 100, "again") for day in DAYS[:2]}
    with pytest.raises(RuntimeError, match="the step failed"), store.index_batch():
        store.publish(racing.KEY, DAYS[0], again[DAYS[0]]["version"])
        raise RuntimeError("the step failed")
    assert _shard(storage)["partitions"][DAYS[0]]["version"] == again[DAYS[0]]["version"]
    assert _shard(storage)["partitions"][DAYS[1]]["version"] == written[DAYS[1]]["version"]
    assert publish_index.repair(store, racing.KEY, apply=False) == []
