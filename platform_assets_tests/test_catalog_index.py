"""The catalog over the publish index: a year planned in a few S3 requests, exact reads.

Requests are counted at moto's S3 server (every request it answered, pyarrow's data
reads included); answers are compared with pyarrow reading the published files
directly and with the data each day was written from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from platform_assets import catalog_filters, catalog_sql
from platform_assets.catalog import READS_ATTR, Catalog
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets_tests.counting_fs import counting_storage
from platform_assets_tests.index_lake import (
    DAYS,
    KEY,
    NAME,
    CountedS3,
    build_local,
    counted_s3,
    day_table,
    seed_s3,
)

# Planning a year: list the asset, read twelve month shards, list the year's objects
# (a page per 1,000), record the read. Without the index: a pointer and a manifest per day.
PLAN_LIMIT = 20
MARCH = [d for d in DAYS if d.startswith("2013-03-")]


@pytest.fixture(scope="module")
def year_on_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CountedS3, LakeStorage]]:
    with counted_s3() as s3:
        yield s3, seed_s3(build_local(tmp_path_factory.mktemp("year") / "lake"), s3)


def _direct_sum(storage: LakeStorage, days: list[str], column: str) -> int:
    """The column's sum over the published files, read with pyarrow alone."""
    store, total = VersionStore(storage), 0
    for day in days:
        for path in store.data_paths(store.resolve(KEY, day)):
            total += pc.sum(pq.read_table(path, filesystem=storage.fs, columns=[column])[column]).as_py()
    return total


def _parquet_gets(s3: CountedS3) -> set[str]:
    return {
        p.split("/date=")[1].split("/")[0]
        for m, p, _ in s3.log.requests
        if m == "GET" and p.endswith(".parquet")
    }


def _metadata_gets(s3: CountedS3) -> list[str]:
    return [
        p for m, p, _ in s3.log.requests if m == "GET" and p.endswith(("_published.json", "_manifest.json"))
    ]


def test_a_year_is_planned_in_a_bounded_number_of_s3_requests(year_on_s3) -> None:
    s3, storage = year_on_s3
    s3.log.reset()
    dataset = Catalog(storage).dataset(NAME)  # planned and authorised; no data read yet
    assert len(dataset.files) == len(DAYS)
    assert len(s3.log.requests) <= PLAN_LIMIT and _metadata_gets(s3) == []
    print(
        f"\nyear plan on S3: {len(s3.log.requests)} requests (benchmarks/catalog_requests.py: before/after)"
    )


def test_one_day_and_one_month_read_exactly_their_files(year_on_s3) -> None:
    s3, storage = year_on_s3
    catalog = Catalog(storage)
    day = "2013-06-15"
    s3.log.reset()
    found = catalog.sql("SELECT sum(flights) AS n FROM bench_daily WHERE date = $d", {"d": day})
    assert _parquet_gets(s3) == {day}
    assert [r["partition"] for r in found.attrs[READS_ATTR]] == [day]
    assert len(s3.log.requests) <= PLAN_LIMIT + 4  # plus the day's footer and data reads
    assert (
        found["n"].tolist()
        == [pc.sum(day_table(day)["flights"]).as_py()]
        == [_direct_sum(storage, [day], "flights")]
    )

    s3.log.reset()
    month = catalog.sql(
        "SELECT sum(flights) AS n FROM serving.bench_daily "
        "WHERE date >= '2013-03-01' AND date < CAST($end AS VARCHAR)",
        {"end": "2013-04-01"},
    )
    assert _parquet_gets(s3) == set(MARCH)
    assert sorted(r["partition"] for r in month.attrs[READS_ATTR]) == MARCH
    assert month["n"].tolist() == [_direct_sum(storage, MARCH, "flights")]
    assert catalog.reads_frame()["partition"].tolist() == [day, *MARCH]


def test_a_publish_on_s3_records_what_the_listing_shows(year_on_s3) -> None:
    """The tokens a publish records are the ETags readers list: no pointer is read after it."""
    s3, storage = year_on_s3
    store, day = VersionStore(storage), "2013-06-15"
    table = day_table(day).set_column(1, "flights", pc.multiply(day_table(day)["flights"], 2))
    manifest = store.write_table(KEY, day, table, run_id="again")
    store.publish(KEY, day, manifest["version"])
    s3.log.reset()
    frame = Catalog(storage).load(NAME, partitions=["2013-06-14", day], columns=["flights"])
    assert _metadata_gets(s3) == []
    assert int(frame["flights"].sum()) == _direct_sum(storage, ["2013-06-14", day], "flights")
    assert _direct_sum(storage, [day], "flights") == 2 * pc.sum(day_table(day)["flights"]).as_py()


def test_local_sql_reads_exactly_the_filtered_partitions(tmp_path: Path) -> None:
    storage, counter = counting_storage(build_local(tmp_path / "lake", DAYS[:62]))
    frame = Catalog(storage).sql(
        "SELECT date, count(*) AS n FROM bench_daily WHERE date IN ('2013-01-05', '2013-02-10') OR date = $d "
        "GROUP BY date ORDER BY date",
        {"d": "2013-01-31"},
    )
    days = ["2013-01-05", "2013-01-31", "2013-02-10"]
    assert frame["date"].tolist() == days
    assert sorted(p.split("/date=")[1][:10] for p in counter.opened_files(".parquet")) == days
    assert sorted(r["partition"] for r in frame.attrs[READS_ATTR]) == days
    empty = Catalog(storage).sql("SELECT count(*) AS n FROM bench_daily WHERE date = '2014-01-01'")
    assert empty["n"].tolist() == [0] and empty.attrs[READS_ATTR] == []


@pytest.mark.parametrize(
    ("where", "params", "expected"),
    [
        ("date = '2013-01-02'", None, {"2013-01-02"}),
        ("'2013-01-02' < date", None, {"2013-01-03"}),
        (
            "date BETWEEN $a AND $b AND x > 1",
            {"a": "2013-01-01", "b": "2013-01-02"},
            {"2013-01-01", "2013-01-02"},
        ),
        ("t.date IN ('2013-01-01', '2013-01-03')", None, {"2013-01-01", "2013-01-03"}),
        ("date >= ? ", ["2013-01-02"], {"2013-01-02", "2013-01-03"}),
        ("date = '2013-01-01' OR x > 1", None, None),  # the OR reaches other days
        ("date LIKE '2013-01-0%'", None, None),
        ("date = '2013-01-02 10:00'", None, None),  # not a day: compared as text by DuckDB
    ],
)
def test_partition_filters_from_the_parse_tree(where: str, params, expected) -> None:
    with duckdb.connect() as conn:
        tree = catalog_sql.parse(conn, f"SELECT * FROM serving.t AS t WHERE {where}")  # noqa: S608 - literal cases
        joined = catalog_sql.parse(conn, "SELECT * FROM t JOIN u USING (x) WHERE date = '2013-01-01'")
    test = catalog_filters.partition_filters(tree, "date", params)[("serving", "t")]
    days = ["2013-01-01", "2013-01-02", "2013-01-03"]
    assert (None if test is None else {d for d in days if test(d)}) == expected
    assert catalog_filters.partition_filters(joined, "date", None)[("", "t")] is None  # a join: all days
