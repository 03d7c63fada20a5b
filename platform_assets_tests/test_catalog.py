"""The catalog: what notebooks read, how little of the lake they touch, and which versions."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.catalog import READS_ATTR, Catalog, CatalogError
from platform_assets.lake import history
from platform_assets.lake.versions import NotPublishedError, VersionStore
from platform_assets_tests.conftest import Lake, local_lake, s3_lake
from platform_assets_tests.counting_fs import counting_storage

YEAR_ASSET = ["serving", "synthetic_daily"]
YEAR_NAME = "serving/synthetic_daily"
DAYS = [(date(2013, 1, 1) + timedelta(days=i)).isoformat() for i in range(365)]
ROWS_PER_DAY = 2_000
VALUE_COLUMNS = [f"c{i}" for i in range(10)]
# pyarrow reads the last 64 KiB of a Parquet file in one go to find its footer.
FOOTER_READ = 64 * 1024


def synthetic_day(day: str) -> pa.Table:
    """A day of incompressible numbers, regenerated identically from the day alone."""
    rng = np.random.default_rng(date.fromisoformat(day).toordinal())
    columns = {name: rng.random(ROWS_PER_DAY) for name in VALUE_COLUMNS}
    carriers = np.array(["AA", "B6", "DL", "UA"])[rng.integers(0, 4, ROWS_PER_DAY)]
    return pa.table({"date": [day] * ROWS_PER_DAY, "carrier": carriers, **columns})


def _build_year(lake: Lake) -> Lake:
    store = lake.versions

    def write(day: str) -> None:
        manifest = store.write_table(YEAR_ASSET, day, synthetic_day(day), run_id="synthetic")
        store.publish(YEAR_ASSET, day, manifest["version"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, DAYS))
    return lake


def _seed_s3(local: Lake, endpoint: str) -> Lake:
    """The same lake, object for object, in the S3 server's store.

    Seeded straight into moto's in-process backend: a year through HTTP costs a dozen
    requests per partition, most of a minute on this server. Every read the tests
    measure still goes over HTTP to the real endpoint."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    target = s3_lake(endpoint)
    bucket, prefix = target.url.removeprefix("s3://").split("/", 1)
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    root = Path(local.storage.root)
    for path in root.rglob("*"):
        if path.is_file():
            body = path.read_bytes()
            if path.suffix == ".json":  # manifests name their own location
                body = body.replace(local.storage.url.encode(), target.url.encode())
            backend.put_object(bucket, f"{prefix}/{path.relative_to(root).as_posix()}", body)
    return target


@pytest.fixture(scope="module")
def local_year(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """A year of daily partitions written straight through the version store."""
    return _build_year(local_lake(tmp_path_factory.mktemp("year")))


@pytest.fixture(scope="module", params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def year_lake(request: pytest.FixtureRequest, local_year: Lake) -> Lake:
    if request.param == "local":
        return local_year
    return _seed_s3(local_year, request.getfixturevalue("s3_endpoint"))


def _column_chunk_bytes(store: VersionStore, day: str, columns: list[str]) -> tuple[int, int]:
    """(compressed bytes of `columns`, file size) of a day's file, from its own footer."""
    manifest = store.resolve(YEAR_ASSET, day)
    (path,) = store.data_paths(manifest)
    metadata = pq.ParquetFile(path, filesystem=store.storage.fs).metadata
    wanted = 0
    for group in range(metadata.num_row_groups):
        for index in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(index)
            if chunk.path_in_schema in columns:
                wanted += chunk.total_compressed_size
    return wanted, manifest["bytes"]


def _year_bytes(lake: Lake) -> int:
    """Bytes of every data file of the year: the least any full scan reads."""
    return sum(f.size for f in lake.storage.list_files("/".join(YEAR_ASSET)) if f.path.endswith(".parquet"))


def test_one_day_two_columns_touch_one_file_and_two_columns(year_lake: Lake) -> None:
    storage, counter = counting_storage(year_lake.storage)
    catalog = Catalog(storage)
    day, columns = "2013-06-15", ["carrier", "c3"]

    frame = catalog.load(YEAR_NAME, partitions=[day], columns=columns)
    one_day = counter.bytes_read(".parquet")
    opened = counter.opened_files(".parquet")
    expected = synthetic_day(day)
    assert list(frame.columns) == columns and len(frame) == ROWS_PER_DAY
    np.testing.assert_array_equal(frame["c3"].to_numpy(), expected.column("c3").to_numpy())
    assert len(opened) == 1 and f"date={day}/" in opened[0]

    wanted, file_size = _column_chunk_bytes(year_lake.versions, day, columns)
    year_bytes = _year_bytes(year_lake)
    # Exactly the requested column chunks plus pyarrow's one speculative footer read.
    assert wanted <= one_day <= wanted + FOOTER_READ + 1024
    assert one_day < 0.5 * file_size
    assert one_day < 0.5 * year_bytes / len(DAYS)
    summary = f"one day, two columns: {one_day:,} B of a {file_size:,} B file (chunks {wanted:,} B)"

    if year_lake.kind == "local":  # a measured full scan; over HTTP it costs ~20 s on moto
        counter.reset()
        full = catalog.table(YEAR_NAME)
        full_scan = counter.bytes_read(".parquet")
        assert full.num_rows == ROWS_PER_DAY * len(DAYS)
        assert len(counter.opened_files(".parquet")) == len(DAYS)
        assert full_scan >= year_bytes
        assert one_day < 0.5 * full_scan / len(DAYS)
        summary += f"; full scan {full_scan:,} B (ratio {one_day / full_scan:.5f})"
    print(f"\n[{year_lake.kind}] {summary}; year {year_bytes:,} B")


def test_sql_filter_and_projection_reach_the_files(local_year: Lake) -> None:
    """DuckDB's filter and projection reach the year's files (S3: see the small lake below,
    since every query resolves a year of pointers, ~10 s per query on the moto server)."""
    year_lake = local_year
    storage, counter = counting_storage(year_lake.storage)
    catalog = Catalog(storage)
    day = "2013-09-30"
    result = catalog.sql(
        "SELECT count(*) AS flights, avg(c7) AS mean_c7 FROM serving.synthetic_daily WHERE date = $day",
        {"day": day},
    )
    expected = synthetic_day(day).column("c7").to_numpy()
    assert int(result["flights"].iloc[0]) == ROWS_PER_DAY
    assert result["mean_c7"].iloc[0] == pytest.approx(expected.mean(), rel=1e-12)
    opened = counter.opened_files(".parquet")
    assert len(opened) == 1 and f"date={day}/" in opened[0]
    wanted, file_size = _column_chunk_bytes(year_lake.versions, day, ["date", "c7"])
    assert counter.bytes_read(".parquet") <= wanted + FOOTER_READ + 1024 < file_size
    # The query reports exactly the version it read: DuckDB is given only that day's file.
    reads = result.attrs[READS_ATTR]
    assert [(r["asset"], r["partition"]) for r in reads] == [(YEAR_NAME, day)]

    counter.reset()
    week = catalog.sql(
        "SELECT date, count(*) AS n FROM synthetic_daily WHERE date BETWEEN $a AND $b GROUP BY date",
        {"a": "2013-03-04", "b": "2013-03-10"},
    )
    assert sorted(week["date"]) == [f"2013-03-{d:02d}" for d in range(4, 11)]
    assert len(counter.opened_files(".parquet")) == 7
    assert set(week["date"]) == {r["partition"] for r in week.attrs[READS_ATTR]}


def _table(n: int, offset: int = 0) -> pa.Table:
    return pa.table({"date": ["2013-05-01"] * n, "x": list(range(offset, offset + n))})


def test_pinned_as_of_and_reported_versions(lake: Lake) -> None:
    store = lake.versions
    key, day = ["curated", "things"], "2013-05-01"
    first = store.write_table(key, day, _table(3), run_id="first")
    store.publish(key, day, first["version"])
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    second = store.write_table(key, day, _table(5, offset=100), run_id="second")
    store.publish(key, day, second["version"])
    catalog = Catalog(lake.storage)

    assert catalog.load("curated/things")["x"].tolist() == list(range(100, 105))
    assert catalog.load("curated/things", [day], version=first["version"])["x"].tolist() == [0, 1, 2]
    assert catalog.load("curated/things", as_of=between)["x"].tolist() == [0, 1, 2]
    assert catalog.load("curated/things", as_of=between.isoformat())["x"].tolist() == [0, 1, 2]
    with pytest.raises(NotPublishedError, match="no published version at"):
        catalog.load("curated/things", [day], as_of=between - timedelta(hours=1))
    assert [(r.partition, r.version) for r in catalog.reads] == [
        (day, second["version"]),
        (day, first["version"]),
    ]
    assert catalog.reads_frame()["content_hash"].tolist() == [second["content_hash"], first["content_hash"]]

    # SQL over the same lake (local or S3): only the filtered day's file is opened.
    for other in ("2013-05-02", "2013-05-03"):
        extra = store.write_table(
            key, other, _table(4).set_column(0, "date", pa.array([other] * 4)), run_id="o"
        )
        store.publish(key, other, extra["version"])
    counted, counter = counting_storage(lake.storage)
    found = Catalog(counted).sql("SELECT sum(x) AS total FROM things WHERE date = $d", {"d": "2013-05-02"})
    assert found["total"].tolist() == [sum(range(4))] and found["total"].dtype == "int64"  # not 6.0
    assert [p.split("/")[-3] for p in counter.opened_files(".parquet")] == ["date=2013-05-02"]
    assert [r["partition"] for r in found.attrs[READS_ATTR]] == ["2013-05-02"]  # what it read, only

    # After a rollback "now" is the first version again, and the past stays the past.
    history.rollback(store, key, day, reason="test", force=True)  # these versions were never audited
    assert catalog.load("curated/things", [day])["x"].tolist() == [0, 1, 2]
    assert catalog.load("curated/things", as_of=between)["x"].tolist() == [0, 1, 2]  # later days: not yet
    assert catalog.manifest("curated/things", day)["version"] == first["version"]


def test_sql_through_a_python_filesystem_does_not_deadlock(tmp_path: Path) -> None:
    """DuckDB starts each scan from its own thread; through a filesystem written in Python
    (fsspec's, or the counting one above) that once deadlocked on the GIL, in most runs
    within 13 to 120 queries here, and no timeout could end it. 400 queries in a child
    process, whose C watchdog ends a hang with the stuck threads' stacks."""
    rounds, watchdog_s = 400, 120
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "platform_assets_tests.sql_on_python_fs",
            str(tmp_path / "lake"),
            str(rounds),
            str(watchdog_s),
        ],
        capture_output=True,
        text=True,
        timeout=watchdog_s + 60,
        check=False,
    )
    assert child.returncode == 0, f"catalog SQL hung or failed:\n{child.stdout}\n{child.stderr[-4000:]}"
    assert f"{rounds} queries over 7 files each, sums equal" in child.stdout


def test_catalog_refuses_what_it_cannot_name(tmp_path: Path) -> None:
    lake = local_lake(tmp_path)
    store = lake.versions
    manifest = store.write_table(["curated", "things"], "2013-05-01", _table(2), run_id="r")
    store.publish(["curated", "things"], "2013-05-01", manifest["version"])
    catalog = Catalog(lake.storage)
    assert catalog.assets() == ["curated/things"]
    for bad in ("../etc", "curated/../../x", "landing/flights", "Curated/Things"):
        with pytest.raises(CatalogError):
            catalog.load(bad)
    with pytest.raises(CatalogError, match="no column"):
        catalog.load("curated/things", columns=["missing"])
    with pytest.raises(CatalogError, match="not a version id"):
        catalog.load("curated/things", ["2013-05-01"], version="../../x")
    # Values are bound, never spliced: a quote in a value is just a value.
    found = catalog.sql("SELECT count(*) AS n FROM curated.things WHERE date = $d", {"d": "x' OR '1'='1"})
    assert int(found["n"].iloc[0]) == 0
    with pytest.raises(Exception, match="nothing_here"):
        catalog.sql("SELECT * FROM serving.nothing_here")
