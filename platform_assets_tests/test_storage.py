"""The storage layer behaves the same on a local folder and on S3."""

import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.lake import layout
from platform_assets.lake.versions import NotPublishedError, RawFile, VersionError
from platform_assets_tests.conftest import Lake


def test_bytes_round_trip_and_listing(lake: Lake) -> None:
    storage = lake.storage
    assert not storage.exists("landing/flights/2013-01-01.csv")
    storage.write_bytes("landing/flights/2013-01-01.csv", b"a,b\n1,2\n")
    storage.write_bytes("landing/flights/2013-01-02.csv", b"a,b\n3,4\n")
    assert storage.read_bytes("landing/flights/2013-01-01.csv") == b"a,b\n1,2\n"
    assert storage.list_names("landing/flights") == ["2013-01-01.csv", "2013-01-02.csv"]
    assert storage.list_names("landing/nothing") == []
    storage.write_bytes("landing/flights/2013-01-01.csv", b"replaced")
    assert storage.read_bytes("landing/flights/2013-01-01.csv") == b"replaced"
    assert sorted(f.path for f in storage.list_files("landing")) == [
        "landing/flights/2013-01-01.csv",
        "landing/flights/2013-01-02.csv",
    ]
    if storage.is_local:  # no temporary files are left beside the target
        assert storage.list_names("landing/flights") == ["2013-01-01.csv", "2013-01-02.csv"]


def _table(n: int) -> pa.Table:
    return pa.table({"date": ["2013-01-01"] * n, "x": list(range(n)), "s": [f"row-{i}" for i in range(n)]})


def test_versions_are_immutable_and_published_by_pointer(lake: Lake) -> None:
    store = lake.versions
    key = ["curated", "things"]
    with pytest.raises(NotPublishedError, match="no published version"):
        store.resolve(key, "2013-01-01")
    first = store.write_table(key, "2013-01-01", _table(10), run_id="run-one")
    # Written but not published: readers still see nothing.
    with pytest.raises(NotPublishedError):
        store.resolve(key, "2013-01-01")
    store.publish(key, "2013-01-01", first["version"])
    second = store.write_table(key, "2013-01-01", _table(20), run_id="run-two")
    pointer = store.publish(key, "2013-01-01", second["version"], reason="test")
    assert pointer["previous_version"] == first["version"]
    assert [h["version"] for h in pointer["history"]] == [second["version"], first["version"]]
    assert store.versions(key, "2013-01-01") == sorted([first["version"], second["version"]])
    assert store.read_table(store.resolve(key, "2013-01-01")).num_rows == 20
    # The older version is untouched and can still be read by pinning it.
    old = store.read_table(store.resolve(key, "2013-01-01", first["version"]))
    assert old.equals(_table(10))
    assert store.partitions(key) == ["2013-01-01"]


def test_incomplete_version_is_never_listed_or_published(lake: Lake) -> None:
    store = lake.versions
    key = ["curated", "things"]
    version = layout.new_version_id("crashed")
    # A writer died after the data file, before the manifest.
    lake.storage.write_bytes(f"{layout.version_path(key, '2013-01-01', version)}/part-00000.parquet", b"x")
    assert store.versions(key, "2013-01-01") == []
    with pytest.raises(VersionError, match="no complete version"):
        store.publish(key, "2013-01-01", version)


def test_large_partitions_split_into_part_files(lake: Lake) -> None:
    store = lake.versions
    store.target_file_bytes = 2_000  # tiny target to force several files
    table = _table(1_000)
    manifest = store.write_table(["curated", "things"], "2013-01-01", table, run_id="split")
    assert len(manifest["files"]) > 5
    assert sum(f["rows"] for f in manifest["files"]) == 1_000
    assert manifest["row_count"] == 1_000
    assert store.read_table(manifest).sort_by("x").equals(table)
    projected = store.read_table(manifest, columns=["x"])
    assert projected.column_names == ["x"]
    with pytest.raises(VersionError, match="no column"):
        store.read_table(manifest, columns=["missing"])


def test_parts_encoded_ahead_are_the_version_written(lake: Lake) -> None:
    """What the IO manager encodes on worker threads is what lands: every stored file has
    the hash and rows its manifest names and its partition's identity in its footer, the
    rows are the table's, the encoding counts in the write time, and parts of another
    table are refused before anything is written."""
    store = lake.versions
    store.target_file_bytes = 2_000  # several part files
    key, day, table = ["curated", "things"], "2013-01-01", _table(1_000)
    parts = store.encode(key, day, table)
    manifest = store.write_table(key, day, table, run_id="ahead", parts=parts)
    prefix = layout.version_path(key, day, manifest["version"])
    assert len(manifest["files"]) > 5
    for entry in manifest["files"]:
        stored = lake.storage.read_bytes(f"{prefix}/{entry['name']}")
        assert hashlib.sha256(stored).hexdigest() == entry["sha256"] and len(stored) == entry["bytes"]
        footer = pq.ParquetFile(io.BytesIO(stored)).metadata
        assert footer.num_rows == entry["rows"]
        assert footer.metadata[b"platform.partition"] == day.encode()
    digests = "".join(entry["sha256"] for entry in manifest["files"]).encode()
    assert manifest["content_hash"] == hashlib.sha256(digests).hexdigest()
    assert store.read_table(manifest).sort_by("x").equals(table)
    assert manifest["timings"]["write_seconds"] >= round(sum(p.seconds for p in parts), 3) - 0.001
    with pytest.raises(VersionError, match="encoded from another table"):
        store.write_table(key, "2013-01-02", _table(10), run_id="wrong", parts=parts)
    assert store.versions(key, "2013-01-02") == []


def test_raw_files_kept_byte_for_byte(lake: Lake) -> None:
    store = lake.versions
    raw = RawFile("2013-01-01.csv", b"year,month\n2013,1\n\xff", "file:///landing/x.csv")
    manifest = store.write_file(["raw", "flights"], "2013-01-01", raw, run_id="raw")
    assert manifest["content_hash"] == raw.sha256
    assert store.read_file(manifest) == raw
