"""Read the lake from notebooks and scripts, without Dagster (examples in the README).

Readers see published versions by default, a pinned version on request, or what was
published at a moment in the past (`as_of`, from the pointer history). Assets reach
DuckDB as pyarrow datasets with one fragment per data file, each tagged with its
partition, so `WHERE date = ...` skips other days' files unopened and only the
selected columns are read: DuckDB has no httpfs here, and needs none.

The catalog never changes data: it reads pointers, manifests and data files, and
writes one audit record per read. Data more classified than the reader's role
(`role`, else PLATFORM_READER_ROLE) may see is refused, naming asset and level. What it
reads is checked: a data file whose size, row count or footer identity disagrees with
its manifest is an error naming the file. A corrupt pointer or manifest fails a read
that names its partition; a read of a whole asset skips that one partition with a
`LakeIntegrityWarning` naming it (and lists it in the frame's `attrs["lake_problems"]`),
so one damaged day does not take the asset down and never disappears silently."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from platform_assets.governance import access
from platform_assets.lake import history, layout
from platform_assets.lake.identity import ensure_lake_identity
from platform_assets.lake.storage import LakeIntegrityError, LakeStorage
from platform_assets.lake.versions import (
    KIND_FILE,
    KIND_PARQUET,
    NotPublishedError,
    VersionError,
    VersionStore,
    check_file_identity,
    decode_schema,
)
from platform_assets.settings import Settings

PARTITION_COLUMN = layout.PARTITION_LEVEL
READS_ATTR = "lake_reads"
PROBLEMS_ATTR = "lake_problems"
_REGISTERED_PREFIX = "lake__"
_STRING_TYPES = (pa.string(), pa.large_string(), pa.string_view())
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_HUGE = frozenset({"HUGEINT", "UHUGEINT"})


class CatalogError(ValueError):
    """A request the lake cannot answer as asked (unknown asset, column, or version)."""


class LakeIntegrityWarning(UserWarning):
    """A partition left out of a whole-asset read because its pointer or manifest is corrupt."""


@dataclass(frozen=True)
class VersionRead:
    """One partition version an analysis used: enough to read exactly the same data again."""

    asset: str
    partition: str | None
    version: str
    content_hash: str
    manifest_uri: str


class Catalog:
    """Read-only access to one lake."""

    def __init__(self, storage: LakeStorage, role: str | None = None) -> None:
        self.storage = storage
        self.role = access.reader_role(role)
        self._store = VersionStore(storage)
        self._manifests: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self._reads: dict[tuple[str, str | None, str], VersionRead] = {}
        self._problems: list[str] = []
        # data file path -> (manifest, file entry), for verifying what a scan opened
        self._entries: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, role: str | None = None) -> Catalog:
        """The lake the platform itself would use in this environment, once its identity
        record agrees with that environment (a prod notebook cannot read staging by accident)."""
        from platform_assets.governance.guard import open_lake

        settings = Settings.from_env(environ)
        ensure_lake_identity(settings)
        return cls(open_lake(settings, "analyst"), access.reader_role(role, environ))  # analyst identity

    @property
    def url(self) -> str:
        return self.storage.url

    # What is there

    def assets(self) -> list[str]:
        """Asset names (`zone/name`) that hold anything in this lake."""
        return ["/".join(key) for key in history.lake_assets(self._store)]

    def partitions(self, asset: str, *, published: bool = True) -> list[str]:
        """Partitions readers can see (or, with `published=False`, every one ever written)."""
        key = self._key(asset)
        written = self._store.partitions(key)
        if not published:
            return written
        visible = history.parallel_map(lambda p: self.storage.exists(layout.pointer_path(key, p)), written)
        return [p for p, seen in zip(written, visible, strict=True) if seen]

    def versions(self, asset: str, partition: str | None = None) -> pd.DataFrame:
        """Every version of a partition, newest first, with publish state and audit result."""
        rows = history.version_history(self._store, self._key(asset), self._partition(partition))
        return pd.DataFrame([asdict(row) for row in rows])

    def manifest(
        self,
        asset: str,
        partition: str | None = None,
        *,
        version: str | None = None,
        as_of: str | datetime | None = None,
    ) -> dict[str, Any]:
        """The manifest of the version a read would use: how it was built and from what."""
        key = self._key(asset)
        return self._resolve(key, self._partition(partition), version, as_of, required=True)

    # Reading

    def artifact(
        self,
        asset: str,
        partition: str | None = None,
        *,
        version: str | None = None,
        as_of: str | datetime | None = None,
    ) -> tuple[bytes, dict[str, Any]]:
        """The bytes of a stored object that is not a table (a model) and its manifest.

        The checksum is verified before the bytes are returned; what they are (e.g. a
        skops model, see `platform_assets.ml.load_model`) is the manifest's `media_type`."""
        manifest = self.manifest(asset, partition, version=version, as_of=as_of)
        if manifest["kind"] != KIND_FILE:
            raise CatalogError(f"{asset} holds a table; read it with load() or table()")
        data = self._store.read_file(manifest).data
        self._note_read(manifest)
        return data, manifest

    def load(
        self,
        asset: str,
        partitions: Iterable[str] | None = None,
        columns: Sequence[str] | None = None,
        *,
        version: str | Mapping[str, str] | None = None,
        as_of: str | datetime | None = None,
    ) -> pd.DataFrame:
        """An asset's data for some partitions (default: all published) and columns.

        `version` pins one version id (with a single partition) or maps partition to
        version; `as_of` reads what was published at that moment. The returned frame's
        `attrs["lake_reads"]` names the versions it came from."""
        problems_before = len(self._problems)
        table, reads = self._table(asset, partitions, columns, version, as_of)
        frame = table.to_pandas()
        frame.attrs[READS_ATTR] = [asdict(r) for r in reads]
        frame.attrs[PROBLEMS_ATTR] = self._problems[problems_before:]
        return frame

    def table(
        self,
        asset: str,
        partitions: Iterable[str] | None = None,
        columns: Sequence[str] | None = None,
        *,
        version: str | Mapping[str, str] | None = None,
        as_of: str | datetime | None = None,
    ) -> pa.Table:
        """As `load`, as an Arrow table."""
        return self._table(asset, partitions, columns, version, as_of)[0]

    def dataset(
        self,
        asset: str,
        partitions: Iterable[str] | None = None,
        *,
        version: str | Mapping[str, str] | None = None,
        as_of: str | datetime | None = None,
    ) -> pads.Dataset:
        """A lazy pyarrow dataset over the chosen versions: filter and project before reading."""
        dataset, manifests = self._dataset(asset, partitions, version, as_of)
        for manifest in manifests:
            self._note_read(manifest)
        return dataset

    def sql(
        self,
        query: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        as_of: str | datetime | None = None,
    ) -> pd.DataFrame:
        """Run DuckDB SQL over published assets, named `zone.asset` (or just `asset` when
        the name is unique). Values go in `params` (`$name` placeholders), never into the text.

        Only the assets the query names are resolved. The frame's `attrs["lake_reads"]`
        (and `reads`) lists every version the query could see: DuckDB prunes by `date`
        inside the scan, and the filesystem wrapper that recorded what it opened could
        deadlock against pyarrow's I/O threads, so the record is the candidates (a
        superset of what was read). Integer sums stay integers."""
        candidates: list[tuple[dict[str, Any], list[str]]] = []
        problems_before = len(self._problems)
        with duckdb.connect(":memory:") as conn:
            wanted = _referenced_tables(conn, query)
            matches = [
                (zone, name)
                for zone, name in history.lake_assets(self._store)
                if (zone, name) in wanted or ("", name) in wanted
            ]
            exposed: dict[str, list[str]] = {}
            for zone, name in matches:
                try:
                    dataset, manifests = self._dataset(f"{zone}/{name}", None, None, as_of)
                except CatalogError:
                    continue  # not a table (a raw file asset) or nothing published
                candidates.extend((m, self._store.data_paths(m)) for m in manifests)
                _expose(conn, zone, name, dataset)
                exposed.setdefault(name, []).append(zone)
            for name, zones in exposed.items():
                if len(zones) == 1:
                    _alias(conn, zones[0], name)
            frame = _result_frame(conn, query, params)
        reads = [self._note_read(m) for m, _ in candidates]
        frame.attrs[READS_ATTR] = [asdict(r) for r in reads]
        frame.attrs[PROBLEMS_ATTR] = self._problems[problems_before:]
        return frame

    @property
    def reads(self) -> list[VersionRead]:
        """Every version this catalog has read, in first-read order."""
        return list(self._reads.values())

    @property
    def problems(self) -> list[str]:
        """Corrupt pointers or manifests this catalog skipped in whole-asset reads."""
        return list(self._problems)

    def reads_frame(self) -> pd.DataFrame:
        """`reads` as a table, to print or to save beside an analysis's results."""
        columns = list(VersionRead.__dataclass_fields__)
        return pd.DataFrame([asdict(r) for r in self.reads], columns=columns)

    # Internals

    def _key(self, asset: str) -> list[str]:
        parts = asset.strip("/").split("/")
        try:
            layout.asset_path(parts)
        except layout.AssetPathError as error:
            raise CatalogError(f"{asset!r} is not an asset name like '<zone>/<name>': {error}") from None
        if parts[0] not in layout.ASSET_ZONES:
            raise CatalogError(f"{asset!r} is not in a readable zone ({', '.join(layout.ASSET_ZONES)})")
        return parts

    @staticmethod
    def _partition(partition: str | None) -> str | None:
        return None if partition is None else layout.validate_partition_key(partition)

    def _manifest(self, key: Sequence[str], partition: str | None, version: str) -> dict[str, Any]:
        """Manifests never change once written, so each is read at most once."""
        cache_key = ("/".join(key), partition, version)
        if cache_key not in self._manifests:
            self._manifests[cache_key] = self._store.manifest(key, partition, version)
        return self._manifests[cache_key]

    def _resolve(
        self,
        key: Sequence[str],
        partition: str | None,
        version: str | None,
        as_of: str | datetime | None,
        *,
        required: bool,
    ) -> dict[str, Any] | None:
        where = layout.partition_path(key, partition)
        if version is not None and as_of is not None:
            raise CatalogError("pass either a pinned version or as_of, not both")
        if version is None and as_of is not None:
            version = history.version_as_of(self._store, key, partition, as_of)
            if version is None:
                if required:
                    raise NotPublishedError(f"{where} had no published version at {as_of}")
                return None
        elif version is None:
            version = self._store.published_version(key, partition)
            if version is None:
                if required:
                    raise NotPublishedError(f"{where} has no published version")
                return None
            try:
                return self._manifest(key, partition, version)
            except VersionError:
                pointer = self.storage.uri(layout.pointer_path(key, partition))
                raise LakeIntegrityError(
                    f"{pointer} publishes {version}, which has no manifest (deleted or never completed)"
                ) from None
        try:
            return self._manifest(key, partition, layout.validate_version_id(version))
        except (VersionError, layout.AssetPathError) as error:
            raise CatalogError(str(error)) from None

    def _manifests_for(
        self,
        asset: str,
        partitions: Iterable[str] | None,
        version: str | Mapping[str, str] | None,
        as_of: str | datetime | None,
    ) -> list[dict[str, Any]]:
        key = self._key(asset)
        explicit = partitions is not None
        keys: list[str | None]
        if explicit:
            keys = [self._partition(p) for p in partitions]
        else:
            keys = list(self._store.partitions(key)) or [None]
        if isinstance(version, str):
            if len(keys) != 1:
                raise CatalogError("a pinned version names one partition; pass a mapping for several")
            pins: Mapping[str | None, str] = {keys[0]: version}
        else:
            pins = dict(version or {})
        strays = sorted(set(pins) - set(keys), key=str)
        if strays:
            raise CatalogError(f"pinned versions for partitions not requested: {strays}")

        def resolve(partition: str | None) -> dict[str, Any] | None:
            pinned = pins.get(partition)
            try:
                return self._resolve(key, partition, pinned, None if pinned else as_of, required=explicit)
            except LakeIntegrityError as error:
                if explicit:
                    raise
                self._problems.append(str(error))
                warnings.warn(
                    f"{asset}: partition {partition} left out: {error}", LakeIntegrityWarning, stacklevel=6
                )
                return None

        manifests = [m for m in history.parallel_map(resolve, keys) if m is not None]
        if not manifests:
            raise CatalogError(f"{asset} has nothing published{'' if as_of is None else f' at {as_of}'}")
        kinds = {m["kind"] for m in manifests}
        if kinds != {KIND_PARQUET}:
            raise CatalogError(f"{asset} holds files (landed data, a model), not a table; see artifact()")
        return manifests

    def _dataset(
        self,
        asset: str,
        partitions: Iterable[str] | None,
        version: str | Mapping[str, str] | None,
        as_of: str | datetime | None,
        columns: Sequence[str] | None = None,
    ) -> tuple[pads.Dataset, list[dict[str, Any]]]:
        """The chosen versions as one dataset over `fs` (default: the lake's), and their manifests."""
        fs = self.storage.fs
        manifests = self._manifests_for(asset, partitions, version, as_of)
        access.authorize_read(self.storage, asset, manifests, columns, self.role)
        schema = self._schema(manifests)
        prune = PARTITION_COLUMN not in schema.names or schema.field(PARTITION_COLUMN).type in _STRING_TYPES
        if prune and manifests[0]["partition"] is not None and PARTITION_COLUMN not in schema.names:
            schema = schema.append(pa.field(PARTITION_COLUMN, pa.string()))
        file_format = pads.ParquetFileFormat()
        fragments = []
        for manifest in manifests:
            expression = None
            if prune and manifest["partition"] is not None:
                expression = pc.field(PARTITION_COLUMN) == pa.scalar(manifest["partition"], pa.string())
            for path, entry in zip(self._store.data_paths(manifest), manifest["files"], strict=True):
                self._entries[path] = (manifest, entry)
                fragments.append(
                    file_format.make_fragment(
                        path, fs, partition_expression=expression, file_size=entry["bytes"]
                    )
                )
        return pads.FileSystemDataset(fragments, schema, file_format, fs), manifests

    def _schema(self, manifests: list[dict[str, Any]]) -> pa.Schema:
        """One schema for all chosen versions, from their manifests when they record it.

        Opening a data file just to learn the schema would defeat partition pruning."""
        distinct: dict[str, dict[str, Any]] = {}
        for manifest in manifests:
            distinct.setdefault(manifest.get("schema_hash", manifest["version"]), manifest)
        schemas = []
        for manifest in distinct.values():
            recorded = decode_schema(manifest)
            if recorded is None:
                path = self._store.data_paths(manifest)[0]
                recorded = pq.read_schema(path, filesystem=self.storage.fs)
            schemas.append(recorded)
        if len(schemas) == 1:
            return schemas[0]
        return pa.unify_schemas(schemas, promote_options="permissive")

    def _table(
        self,
        asset: str,
        partitions: Iterable[str] | None,
        columns: Sequence[str] | None,
        version: str | Mapping[str, str] | None,
        as_of: str | datetime | None,
    ) -> tuple[pa.Table, list[VersionRead]]:
        dataset, manifests = self._dataset(asset, partitions, version, as_of, columns)
        self._verify_fragments(dataset)
        reads = [self._note_read(m) for m in manifests]
        if columns is not None:
            missing = [c for c in columns if c not in dataset.schema.names]
            if missing:
                raise CatalogError(f"{asset} has no column(s) {missing}; it has {dataset.schema.names}")
        projection = list(columns) if columns is not None else None
        table = self.storage.retrying("read", asset, lambda: dataset.to_table(columns=projection))
        return table, reads

    def _verify_fragments(self, dataset: pads.FileSystemDataset) -> None:
        """Each file's size and footer against its manifest before its rows are trusted.

        The footer is what the scan reads first anyway and the fragment keeps it, so
        that check costs no extra request; the size costs one stat (a HEAD on S3) per
        file, done concurrently."""
        entries = self._entries

        def check(fragment: pads.ParquetFileFragment) -> None:
            manifest, entry = entries[fragment.path]
            uri = f"{manifest['uri']}/{entry['name']}"
            info = self.storage.retrying("stat", uri, lambda: self.storage.fs.get_file_info(fragment.path))
            if info.type == pafs.FileType.NotFound:
                raise LakeIntegrityError(f"{uri} is missing (named by its manifest)")
            if info.size != entry["bytes"]:
                raise LakeIntegrityError(f"{uri} is {info.size} bytes; its manifest says {entry['bytes']}")
            try:
                metadata = fragment.metadata
            except (OSError, pa.ArrowInvalid) as error:
                raise LakeIntegrityError(
                    f"{uri} does not match its manifest ({entry['bytes']} bytes): {error}"
                ) from None
            check_file_identity(metadata, manifest, entry, uri)

        history.parallel_map(check, list(dataset.get_fragments()))

    def _note_read(self, manifest: dict[str, Any]) -> VersionRead:
        read = VersionRead(
            asset="/".join(manifest["asset_key"]),
            partition=manifest["partition"],
            version=manifest["version"],
            content_hash=manifest["content_hash"],
            manifest_uri=manifest.get("manifest_uri", ""),
        )
        self._reads.setdefault((read.asset, read.partition, read.version), read)
        return read


def _referenced_tables(conn: duckdb.DuckDBPyConnection, query: str) -> set[tuple[str, str]]:
    """(schema, table) pairs the query names, from DuckDB's own parser.

    Parsing rather than pattern matching: names inside strings, comments or CTEs
    cannot fool it. Statements the serializer does not cover yield nothing, and DuckDB
    then reports the missing table itself."""
    ((serialized,),) = conn.execute("SELECT json_serialize_sql($query)", {"query": query}).fetchall()
    tree = json.loads(serialized)
    found: set[tuple[str, str]] = set()
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE":
                found.add((node.get("schema_name") or "", node.get("table_name") or ""))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _result_frame(
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
        raise CatalogError(f"{name!r} is not a valid table name")
    return name


def _expose(conn: duckdb.DuckDBPyConnection, zone: str, name: str, dataset: pads.Dataset) -> None:
    """Register the dataset and name it `zone.name`; a view keeps filter and column pushdown."""
    registered = f"{_REGISTERED_PREFIX}{_checked(zone)}__{_checked(name)}"
    conn.register(registered, dataset)
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{zone}"')
    conn.execute(f'CREATE VIEW "{zone}"."{name}" AS SELECT * FROM "{registered}"')  # noqa: S608


def _alias(conn: duckdb.DuckDBPyConnection, zone: str, name: str) -> None:
    """The bare name too, for an asset whose name no other zone uses."""
    conn.execute(f'CREATE VIEW "{_checked(name)}" AS SELECT * FROM "{zone}"."{name}"')  # noqa: S608
