"""Read the lake from notebooks and scripts, without Dagster (examples in the README).

Readers see published versions by default, a pinned version on request, or what was
published at a moment in the past (`as_of`, from the pointer history). Assets reach
DuckDB as pyarrow datasets with one fragment per data file, each tagged with its
partition, so `WHERE date = ...` skips other days' files unopened and only the
selected columns are read: DuckDB has no httpfs here, and needs none. `sql` gives
DuckDB only the partitions its `date` filter can touch, so its record of reads is exact.

Current reads are planned from each asset's publish index (`lake/publish_index.py`):
a read per month of partitions and one listing, instead of a pointer and a manifest
per partition; an entry the listing does not confirm is read from its pointer.

The catalog never changes data: it reads pointers, manifests and data files, and
writes one audit record per read. Data more classified than the reader's role
(`role`, else PLATFORM_READER_ROLE) may see is refused, naming asset and level. What it
reads is checked: a data file whose size, row count or footer identity disagrees with
its manifest is an error naming the file. A corrupt pointer or manifest fails a read
that names its partition; a read of a whole asset skips that one partition with a
`LakeIntegrityWarning` naming it (and lists it in the frame's `attrs["lake_problems"]`),
so one damaged day does not take the asset down and never disappears silently."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
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

from platform_assets import catalog_filters, catalog_sql
from platform_assets.governance import access
from platform_assets.lake import history, layout, publish_index
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
_UNINDEXED = "unindexed"  # a planning placeholder: a partition its month's index shard does not name
READS_ATTR = "lake_reads"
PROBLEMS_ATTR = "lake_problems"
_STRING_TYPES = (pa.string(), pa.large_string(), pa.string_view())


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
        # data file path -> size, from the listing that confirmed index-planned versions
        self._sizes: dict[str, int] = {}

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

        Only the assets the query names are resolved, and of each only the partitions its
        filter on `date` can touch (see `catalog_filters`): DuckDB is given just those
        files, so the frame's `attrs["lake_reads"]` (and `reads`) lists exactly the
        versions the query read. Integer sums stay integers."""
        used: list[dict[str, Any]] = []
        problems_before = len(self._problems)
        with duckdb.connect(":memory:") as conn:
            tree = catalog_sql.parse(conn, query)
            filters = catalog_filters.partition_filters(tree, PARTITION_COLUMN, params)
            matches = [
                (zone, name)
                for zone, name in history.lake_assets(self._store)
                if (zone, name) in filters or ("", name) in filters
            ]
            exposed: dict[str, list[str]] = {}
            for zone, name in matches:
                keep = catalog_sql.keep_for(
                    filters, zone, name, unique=sum(n == name for _, n in matches) == 1
                )
                try:
                    dataset, manifests = self._dataset(f"{zone}/{name}", None, None, as_of, keep=keep)
                except CatalogError:
                    continue  # not a table (a raw file asset) or nothing published
                used.extend(manifests)
                catalog_sql.expose(conn, zone, name, dataset)
                exposed.setdefault(name, []).append(zone)
            for name, zones in exposed.items():
                if len(zones) == 1:
                    catalog_sql.alias(conn, zones[0], name)
            frame = catalog_sql.result_frame(conn, query, params)
        reads = [self._note_read(m) for m in used]
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
            raise CatalogError(
                f"{asset!r} is not an asset name like 'serving/route_daily': {error}"
            ) from None
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

        planned = {} if pins or as_of is not None else self._plan_from_index(key, keys, explicit)
        if planned and all(m.get(_UNINDEXED) for m in planned.values()):
            planned = {}  # nothing to plan from: resolve every partition from its pointer

        def resolve(partition: str | None) -> dict[str, Any] | None:
            if partition in planned:
                return planned[partition]
            pinned = pins.get(partition)
            return self._resolve_or_skip(asset, key, partition, pinned, None if pinned else as_of, explicit)

        manifests = [m for m in history.parallel_map(resolve, keys) if m is not None]
        if not manifests:
            raise CatalogError(f"{asset} has nothing published{'' if as_of is None else f' at {as_of}'}")
        kinds = {m["kind"] for m in manifests if not m.get(_UNINDEXED)}
        if kinds != {KIND_PARQUET}:
            raise CatalogError(f"{asset} holds files (landed data, a model), not a table; see artifact()")
        return manifests

    def _resolve_or_skip(
        self,
        asset: str,
        key: Sequence[str],
        partition: str | None,
        version: str | None,
        as_of: str | datetime | None,
        explicit: bool,
    ) -> dict[str, Any] | None:
        """`_resolve`; in a whole-asset read a corrupt partition is left out with a warning."""
        try:
            return self._resolve(key, partition, version, as_of, required=explicit)
        except LakeIntegrityError as error:
            if explicit:
                raise
            self._problems.append(str(error))
            warnings.warn(
                f"{asset}: partition {partition} left out: {error}", LakeIntegrityWarning, stacklevel=7
            )
            return None

    def _plan_from_index(
        self, key: Sequence[str], keys: Sequence[str | None], explicit: bool
    ) -> dict[str | None, dict[str, Any]]:
        """Partitions the publish index answers for: one read per month instead of a pointer
        and a manifest per partition. An entry becomes a planning manifest, trusted only once
        `_confirm` has seen its pointer and manifest unchanged. In a whole-asset read, a
        partition its month's shard does not name is probably unpublished: `_confirm` checks
        that in the same listing. Months without a shard are left to the pointers."""
        dated = [k for k in keys if k is not None]
        if not dated or len(dated) != len(keys):
            return {}
        months = publish_index.shards_for(dated)
        read = history.parallel_map(lambda m: publish_index.read_shard(self.storage, key, m), months)
        shards = dict(zip(months, read, strict=True))
        planned: dict[str | None, dict[str, Any]] = {}
        for partition in dated:
            shard = shards[publish_index.shard_of(partition)]
            if shard is None:
                continue
            manifest = publish_index.planning_manifest(self.storage, key, partition, shard)
            if manifest is not None:
                planned[partition] = manifest
            elif not explicit:
                planned[partition] = {"asset_key": list(key), "partition": partition, _UNINDEXED: True}
        return planned

    def _confirm(self, asset: str, manifests: list[dict[str, Any]], explicit: bool) -> list[dict[str, Any]]:
        """Index-planned partitions checked against one listing of their folders: an entry
        whose pointer or manifest is no longer the one it recorded (a publish whose index
        write was lost, damage, an edit outside `publish`), or a pointer the index does not
        name, is resolved from the pointer instead. The listing's sizes also stand in for
        a stat of each data file."""
        indexed = [m for m in manifests if m.get("from_index") or m.get(_UNINDEXED)]
        if not indexed:
            return manifests
        key = self._key(asset)
        hashed = {publish_index.pointer_rel(key, m["partition"]) for m in indexed} | {
            publish_index.manifest_rel(key, m["partition"], m["version"])
            for m in indexed
            if m.get("from_index")
        }
        partitions = [m["partition"] for m in indexed]
        sizes, tokens = publish_index.listing(self.storage, key, partitions, hashed)
        self._sizes.update((self.storage.full_path(rel), size) for rel, size in sizes.items())
        confirmed = []
        for manifest in manifests:
            partition = manifest["partition"]
            if manifest.get(_UNINDEXED):
                if publish_index.pointer_rel(key, partition) not in tokens:
                    continue  # not published
            elif not manifest.get("from_index") or publish_index.confirmed(manifest, tokens):
                confirmed.append(manifest)
                continue
            resolved = self._resolve_or_skip(asset, key, partition, None, None, explicit)
            if resolved is not None:
                confirmed.append(resolved)
        return confirmed

    def _dataset(
        self,
        asset: str,
        partitions: Iterable[str] | None,
        version: str | Mapping[str, str] | None,
        as_of: str | datetime | None,
        columns: Sequence[str] | None = None,
        keep: Callable[[str], bool] | None = None,
    ) -> tuple[pads.Dataset, list[dict[str, Any]]]:
        """The chosen versions as one dataset, and their manifests.

        `keep` narrows the partitions to those a query can touch (see `catalog_filters`),
        when the partition column is the partition key; the schema is still the asset's."""
        fs = self.storage.fs
        manifests = self._manifests_for(asset, partitions, version, as_of)
        schema = self._schema([m for m in manifests if not m.get(_UNINDEXED)])
        prune = PARTITION_COLUMN not in schema.names or schema.field(PARTITION_COLUMN).type in _STRING_TYPES
        partitioned = manifests[0]["partition"] is not None
        if keep is not None and prune:
            manifests = [m for m in manifests if m["partition"] is None or keep(m["partition"])]
        known = {id(m) for m in manifests}
        manifests = self._confirm(asset, manifests, partitions is not None)
        extra = [m for m in manifests if id(m) not in known]  # resolved from pointers while confirming
        if extra:
            schema = pa.unify_schemas([schema, self._schema(extra)], promote_options="permissive")
        access.authorize_read(self.storage, asset, manifests, columns, self.role)
        if prune and partitioned and PARTITION_COLUMN not in schema.names:
            schema = schema.append(pa.field(PARTITION_COLUMN, pa.string()))
        if not manifests:  # the query's filter leaves no partition: the asset's columns, no rows
            return pads.dataset(schema.empty_table()), []
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
            if fragment.path in self._sizes:  # listed while confirming the index: no stat needed
                size: int | None = self._sizes[fragment.path]
            elif manifest.get("from_index"):
                size = None  # listed, and not there
            else:
                stat = self.storage.retrying(
                    "stat", uri, lambda: self.storage.fs.get_file_info(fragment.path)
                )
                size = None if stat.type == pafs.FileType.NotFound else stat.size
            if size is None:
                raise LakeIntegrityError(f"{uri} is missing (named by its manifest)")
            if size != entry["bytes"]:
                raise LakeIntegrityError(f"{uri} is {size} bytes; its manifest says {entry['bytes']}")
            try:
                metadata = fragment.metadata
            except (OSError, pa.ArrowInvalid) as error:
                raise LakeIntegrityError(
                    f"{uri} does not match its manifest ({entry['bytes']} bytes): {error}"
                ) from None
            check_file_identity(metadata, manifest, entry, uri)

        if isinstance(dataset, pads.FileSystemDataset):
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
