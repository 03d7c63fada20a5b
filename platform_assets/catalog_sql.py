"""DuckDB plumbing of `Catalog.sql`: the query's parse tree, the views that name lake
assets, and a result frame whose integer aggregates stay integers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

_REGISTERED_PREFIX = "lake__"
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_HUGE = frozenset({"HUGEINT", "UHUGEINT"})


class SqlNameError(ValueError):
    """A lake name that cannot be a DuckDB identifier."""


def parse(conn: duckdb.DuckDBPyConnection, query: str) -> Any:
    """DuckDB's own parse tree of the query.

    Parsing rather than pattern matching: names inside strings, comments or CTEs
    cannot fool it. Statements the serializer does not cover yield no tables, and
    DuckDB then reports the missing table itself."""
    ((serialized,),) = conn.execute("SELECT json_serialize_sql($query)", {"query": query}).fetchall()
    return json.loads(serialized)


def keep_for(
    filters: Mapping[tuple[str, str], Callable[[str], bool] | None], zone: str, name: str, *, unique: bool
) -> Callable[[str], bool] | None:
    """The partitions of `zone.name` the query can touch: through its qualified name, and
    through its bare name when no other zone has the name (the bare name is then its alias)."""
    tests = [filters[(zone, name)]] if (zone, name) in filters else []
    if unique and ("", name) in filters:
        tests.append(filters[("", name)])
    if not tests or any(t is None for t in tests):
        return None
    chosen = [t for t in tests if t is not None]
    return lambda key: any(t(key) for t in chosen)


def result_frame(
    conn: duckdb.DuckDBPyConnection, query: str, params: Mapping[str, Any] | Sequence[Any] | None
) -> pd.DataFrame:
    """The query's result as pandas, integer aggregates kept integral.

    DuckDB sums integers into HUGEINT, which its pandas conversion turns into float64
    (a count of rows becomes `18460.0`, and beyond 2**53 loses digits). Those columns
    go through Arrow as exact 128-bit decimals and come back as int64, or stay exact
    `Decimal`s when a value does not fit; every other column converts as DuckDB does."""
    relation = conn.sql(query, params=params) if params is not None else conn.sql(query)
    if relation is None:  # a statement, not a query
        return pd.DataFrame()
    huge = [name for name, kind in zip(relation.columns, relation.types, strict=True) if str(kind) in _HUGE]
    if not huge:
        return relation.df()
    table = relation.to_arrow_table()
    for name in huge:
        index = table.schema.get_field_index(name)
        try:
            table = table.set_column(index, name, pc.cast(table.column(index), pa.int64()))
        except pa.ArrowInvalid:
            continue  # wider than int64: exact decimals rather than rounded floats
    return conn.from_arrow(table).df()


def _checked(name: str) -> str:
    """A lake name fit to be a DuckDB identifier; SQL text is built only from these."""
    if not _IDENTIFIER.match(name):
        raise SqlNameError(f"{name!r} is not a valid table name")
    return name


class _Scan:
    """The one thing DuckDB asks of a scanner, a reader, started with the GIL released."""

    def __init__(self, scanner: pads.Scanner) -> None:
        self._scanner = scanner

    def to_reader(self) -> pa.RecordBatchReader:
        tagged = self._scanner.scan_batches()  # starts the scan without the GIL
        return pa.RecordBatchReader.from_batches(
            self._scanner.projected_schema, (t.record_batch for t in tagged)
        )


class _FilesForDuckDB(pads.FileSystemDataset):
    """The catalog's dataset as DuckDB scans it: same files, pushdown and batches, but the
    scan starts without holding the GIL.

    DuckDB asks the dataset for a scanner and calls `Scanner.to_reader()` from one of its own
    threads; pyarrow (26) starts the scan there while holding the GIL, and waits on a lock
    that an Arrow I/O thread may hold. An I/O thread that needs the GIL to read (a Python
    filesystem such as an fsspec one through `PyFileSystem`, or an S3 endpoint served by
    the same process) then waits for ever, and so does the query. `scan_batches()` starts
    the same scan with the GIL released, and its iterator releases it while waiting."""

    def scanner(self, *args: Any, **kwargs: Any) -> _Scan:  # type: ignore[override]
        return _Scan(super().scanner(*args, **kwargs))


def expose(conn: duckdb.DuckDBPyConnection, zone: str, name: str, dataset: pads.Dataset) -> None:
    """Register the dataset and name it `zone.name`; a view keeps filter and column pushdown."""
    registered = f"{_REGISTERED_PREFIX}{_checked(zone)}__{_checked(name)}"
    if isinstance(dataset, pads.FileSystemDataset):
        dataset = _FilesForDuckDB(
            list(dataset.get_fragments()), dataset.schema, dataset.format, dataset.filesystem
        )
    conn.register(registered, dataset)
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{zone}"')
    conn.execute(f'CREATE VIEW "{zone}"."{name}" AS SELECT * FROM "{registered}"')  # noqa: S608


def alias(conn: duckdb.DuckDBPyConnection, zone: str, name: str) -> None:
    """The bare name too, for an asset whose name no other zone uses."""
    conn.execute(f'CREATE VIEW "{_checked(name)}" AS SELECT * FROM "{zone}"."{name}"')  # noqa: S608
