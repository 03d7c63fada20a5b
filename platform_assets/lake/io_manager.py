"""The IO manager that writes every asset output as an immutable version, and publishes it.

One output may cover many partitions (single-run backfills): a table is split on
its partition column and each partition becomes its own version with its own
manifest and pointer. Loads read only published versions, only the columns the
consumer declared (`AssetIn(metadata={"columns": [...]})`), and remember what they
read so the consumer's manifest can name its exact inputs.

Assets whose definition metadata says `platform/publish: after_audit` (every asset
with a contract) are written but not published: their audit check publishes each
version that passes (write, audit, publish; see `platform_assets.quality.audit`).
A `Screened` output also keeps its rejected rows in the quarantine zone under the
same version id."""

from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from platform_assets import logs
from platform_assets.lake import layout
from platform_assets.lake.artifact import Artifact
from platform_assets.lake.manifest import (
    manifest_extra,
    provenance_metadata,
    record_data_version,
    upstream_entry,
)
from platform_assets.lake.quarantine import Screened, write_rejected
from platform_assets.lake.resources import LakeResource
from platform_assets.lake.run_stash import RunStash
from platform_assets.lake.versions import (
    KIND_FILE,
    EncodedPart,
    RawFile,
    StalePublishError,
    VersionStore,
)
from platform_assets.observability import usage

PARTITION_COLUMN_KEY = "partition_column"
COLUMNS_KEY = "columns"
DEFAULT_PARTITION_COLUMN = "date"

META_VERSION = "platform/version"
META_MANIFEST = "platform/manifest_uri"
META_SOURCE_URI = "platform/source_uri"
META_SHA256 = "platform/sha256"
META_UPSTREAM = "platform/upstream_versions"
META_CONTENT_HASH = "platform/content_hash"
META_CODE_COMMIT = "platform/git_commit"
META_STATUS = "platform/status"
META_REJECTED_ROWS = "platform/rejected_rows"
COLUMN_SCHEMA_KEY = "dagster/column_schema"

# Definition metadata that defers publishing to the asset's audit check.
PUBLISH_POLICY_KEY = "platform/publish"
PUBLISH_AFTER_AUDIT = "after_audit"
STATUS_PUBLISHED = "published"
STATUS_PENDING = "pending audit"

# A backfill's partitions are encoded to Parquet this many ahead of the one being written,
# on worker threads (Arrow encodes and compresses without the GIL): the encoding overlaps
# the writes, manifests and bookkeeping of the partitions before it, and no more than
# this many encoded partitions wait in memory.
ENCODE_AHEAD = 4
ENCODE_THREADS = 2
READ_THREADS = 4

# (run id, step key) -> what that step read; consumed when the step writes.
_reads: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
# (run id, asset path, partition) -> the version this run wrote, so its downstream steps
# read the version the run audited (see `_pinned`).
_written: dict[tuple[str, str, str | None], str] = {}
# (run id, asset path, partition, version) -> the table or file a step wrote and has not had
# audited yet: the audit judges what the run holds instead of reading every version back.
_held: RunStash[pa.Table | RawFile] = RunStash()


class UpstreamMovedError(RuntimeError):
    """The version a run wrote and audited is no longer the published one when a
    downstream step of the same run wants to read it."""


class PartitionMismatchError(ValueError):
    """An output holds rows for partitions the run was not asked to write."""


def _partition_keys(context: dg.InputContext | dg.OutputContext) -> list[str | None]:
    """The partition keys of this load or write, validated before any path is formed."""
    if not context.has_asset_partitions:
        return [None]
    keys = [layout.validate_partition_key(k) for k in context.asset_partition_keys]
    partitions_def = context.asset_partitions_def
    for key in keys:
        if not partitions_def.has_partition_key(key):
            raise layout.PartitionKeyError(
                f"partition key {key!r} is outside the partitions of {context.asset_key.to_user_string()}"
            )
    return keys


def _as_table(obj: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    return pa.Table.from_pandas(obj, preserve_index=False)


def _split(context: dg.OutputContext, obj: Any, keys: list[str | None]) -> dict[str | None, Any]:
    """One payload per partition key: tables split on their partition column, mappings by key."""
    if isinstance(obj, RawFile | Screened | Artifact) and len(keys) == 1:
        return {keys[0]: obj}
    if isinstance(obj, Mapping):
        missing = [k for k in keys if k not in obj]
        if missing:
            raise PartitionMismatchError(f"output has no entry for partitions {missing}")
        return {k: obj[k] for k in keys}
    if not isinstance(obj, pd.DataFrame | pa.Table):
        raise TypeError(
            f"cannot store {type(obj).__name__}; return a DataFrame, Table, Screened, RawFile or Artifact"
        )
    table = _as_table(obj)
    if keys == [None]:
        return {None: table}
    column = (context.definition_metadata or {}).get(PARTITION_COLUMN_KEY, DEFAULT_PARTITION_COLUMN)
    if column not in table.column_names:
        if len(keys) == 1:
            return {keys[0]: table}
        raise PartitionMismatchError(f"a multi-partition output needs a {column!r} column")
    values = pd.Series(table.column(column).to_pandas()).astype(str)
    positions = values.groupby(values, sort=False).indices
    strays = sorted(set(positions) - set(keys))
    if strays:
        raise PartitionMismatchError(
            f"output has rows for partitions {strays[:5]} outside the run's {len(keys)} partition(s)"
        )
    # One `take` that groups the rows by partition (each keeping its order), then zero-copy
    # slices: a take per partition over a year-long table costs a pass over it each time.
    order = [k for k in keys if k in positions]
    grouped = (
        table.take(pa.array(np.concatenate([positions[k] for k in order]), type=pa.int64()))
        if order
        else table
    )
    pieces, offset = {}, 0
    for k in order:
        pieces[k] = grouped.slice(offset, len(positions[k]))
        offset += len(positions[k])
    return {k: pieces[k] if k in pieces else table.slice(0, 0) for k in keys}


def _written_summary(asset_key: Sequence[str], manifests: list[dict[str, Any]]) -> str:
    """The step's writes in one line: how many versions, rows and bytes, and which partitions."""
    partitions = sorted(m["partition"] for m in manifests if m["partition"] is not None)
    span = f" for {partitions[0]}..{partitions[-1]}" if len(partitions) > 1 else ""
    span = f" for {partitions[0]}" if len(partitions) == 1 else span
    rows = sum(int(m.get("row_count") or 0) for m in manifests)
    size = sum(int(m.get("bytes") or 0) for m in manifests)
    return f"{'/'.join(asset_key)}: wrote {len(manifests)} version(s){span}, {rows} rows, {size} bytes"


def _column_schema(fields: Sequence[dict[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f["name"], f["type"]) for f in fields])


def _upstream_for(reads: list[dict[str, Any]], partition: str | None) -> list[dict[str, Any]]:
    """The inputs one partition was built from.

    In a single-run backfill a step reads many upstream partitions; each output
    partition names only the matching one where there is one. A retried step reads
    again, so identical reads are listed once."""
    by_asset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[tuple[str, str | None, str]] = set()
    for read in reads:
        identity = (read["asset"], read["partition"], read["version"])
        if identity not in seen:
            seen.add(identity)
            by_asset[read["asset"]].append(read)
    chosen: list[dict[str, Any]] = []
    for entries in by_asset.values():
        same = [e for e in entries if e["partition"] == partition]
        chosen.extend(same or entries)
    return chosen


def version_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the UI shows for one written version."""
    metadata: dict[str, Any] = {
        "dagster/row_count": manifest.get("row_count", 0),
        "dagster/size_bytes": manifest["bytes"],
        "dagster/uri": dg.MetadataValue.path(manifest["uri"]),
        META_VERSION: manifest["version"],
        META_MANIFEST: dg.MetadataValue.url(manifest["manifest_uri"]),
        META_CONTENT_HASH: manifest["content_hash"],
        META_UPSTREAM: dg.MetadataValue.json(manifest.get("upstream", [])),
        META_STATUS: manifest.get("status", STATUS_PUBLISHED),
    }
    if manifest.get("quarantine"):
        metadata[META_REJECTED_ROWS] = manifest["quarantine"]["rejected"]
    if manifest["kind"] == KIND_FILE:
        metadata[META_SOURCE_URI] = dg.MetadataValue.path(manifest["source_uri"])
        metadata[META_SHA256] = manifest["content_hash"]
    return metadata


def _pinned(
    store: VersionStore, run_id: str, asset_key: Sequence[str], partition: str | None
) -> dict[str, Any]:
    """The manifest a step of `run_id` reads for one upstream partition.

    When the same run wrote that partition, its downstream steps must read exactly the
    version the run audited: if the pointer has moved since (a rollback, or a later run
    published a newer version first), the step stops and says so rather than building on
    a version this run never audited, or silently mixing two."""
    written = _written.get((run_id, "/".join(asset_key), partition))
    published = store.resolve(asset_key, partition)
    if written is None or published["version"] == written:
        return published
    where = layout.partition_path(asset_key, partition)
    raise UpstreamMovedError(
        f"{where}: this run wrote and audited {written}, but the published version is now "
        f"{published['version']} (rolled back, or published by another run meanwhile); "
        "stopping so nothing downstream is built from a version this run did not audit. "
        "A new run will build from the published version."
    )


def _table_of(payload: Any) -> pa.Table | None:
    """The table a piece of output is written as; None for landed files and artifacts."""
    if isinstance(payload, RawFile | Artifact):
        return None
    return payload.kept if isinstance(payload, Screened) else _as_table(payload)


def _encoded_ahead(
    pool: ThreadPoolExecutor, store: VersionStore, asset_key: Sequence[str], pieces: Mapping[str | None, Any]
) -> Iterator[tuple[str | None, Any, pa.Table | None, list[EncodedPart] | None]]:
    """Each piece in order with its table and Parquet parts, the next `ENCODE_AHEAD`
    already encoding on the pool while the caller writes this one."""
    waiting: deque[tuple[str | None, Any, pa.Table | None, Future[list[EncodedPart]] | None]] = deque()
    items = iter(pieces.items())

    def submit_next() -> None:
        item = next(items, None)
        if item is not None:
            key, payload = item
            table = _table_of(payload)
            future = None if table is None else pool.submit(store.encode, asset_key, key, table)
            waiting.append((key, payload, table, future))

    for _ in range(ENCODE_AHEAD):
        submit_next()
    while waiting:
        key, payload, table, future = waiting.popleft()
        submit_next()
        yield key, payload, table, None if future is None else future.result()


def _write_screened(
    store: VersionStore,
    asset_key: Sequence[str],
    partition: str | None,
    screened: Screened,
    *,
    run_id: str,
    extra: dict[str, Any],
    parts: list[EncodedPart] | None = None,
) -> dict[str, Any]:
    """The kept rows as the asset's version and the rejected rows under the same id in quarantine.

    Quarantine is written first: the asset's manifest, written last, names it, so a
    version never points at a quarantine that is not there."""
    version = layout.new_version_id(run_id)
    rejected = write_rejected(store, asset_key, partition, screened, version=version, run_id=run_id)
    summary = {**screened.summary(), "uri": rejected["uri"] if rejected else None}
    extra = {**extra, "quarantine": summary}
    return store.write_table(
        asset_key, partition, screened.kept, run_id=run_id, extra=extra, version=version, parts=parts
    )


def take_held(
    run_id: str, asset_key: Sequence[str], partition: str | None, version: str
) -> pa.Table | RawFile | None:
    """What run `run_id` wrote as `version` of the partition, if this process still holds it.

    Handed over once: the audit takes it, so the run does not keep a backfill's tables in
    memory after they were judged. None when the audit runs in another process (or a
    check-only run): the audit then reads the version from the lake."""
    return _held.take((run_id, "/".join(asset_key), partition, version))


class VersionedParquetIOManager(dg.ConfigurableIOManager):
    """Parquet (or landed files, byte for byte) under the lake root, versioned and published."""

    lake: LakeResource

    def _store(self) -> VersionStore:
        return self.lake.versions()

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        keys = _partition_keys(context)
        pieces = _split(context, obj, keys)
        store = self._store()
        asset_key = context.asset_key.path
        reads = _reads.get((context.run_id, context.step_key), [])
        shared = manifest_extra(context, self.lake.settings())
        policy = context.asset_spec.metadata.get(PUBLISH_POLICY_KEY) if context.has_asset_key else None
        audited = policy == PUBLISH_AFTER_AUDIT
        manifests = []
        with ThreadPoolExecutor(ENCODE_THREADS, thread_name_prefix="parquet-encode") as pool:
            for key, payload, table, parts in _encoded_ahead(pool, store, asset_key, pieces):
                manifests.append(
                    self._write_piece(context, store, key, payload, table, parts, shared, reads, audited)
                )
        self._report(context, manifests)
        record_data_version(context, manifests)
        # One JSON line per version for log shippers; the run's event log gets one line per
        # step: each Dagster log message is a stored event, and per partition they cost a
        # year's backfill thousands of event-log writes repeating the materializations' facts.
        for manifest in manifests:
            logs.version_written(context.run_id, asset_key, manifest)
        context.log.info(_written_summary(asset_key, manifests))

    def _write_piece(
        self,
        context: dg.OutputContext,
        store: VersionStore,
        key: str | None,
        payload: Any,
        table: pa.Table | None,
        parts: list[EncodedPart] | None,
        shared: dict[str, Any],
        reads: list[dict[str, Any]],
        audited: bool,
    ) -> dict[str, Any]:
        """One partition's version: written, and published unless its audit publishes it."""
        asset_key = context.asset_key.path
        extra = {**shared, "upstream": _upstream_for(reads, key)}
        extra = usage.stamp(extra)  # CPU, peak memory and storage calls since the last version
        held: pa.Table | RawFile | None = None
        if isinstance(payload, RawFile):
            manifest = store.write_file(asset_key, key, payload, run_id=context.run_id, extra=extra)
            held = payload
        elif isinstance(payload, Artifact):
            extra = {**extra, **payload.manifest_fields()}
            manifest = store.write_file(asset_key, key, payload.as_file(), run_id=context.run_id, extra=extra)
        elif isinstance(payload, Screened):
            manifest = _write_screened(
                store, asset_key, key, payload, run_id=context.run_id, extra=extra, parts=parts
            )
            held = payload.kept
        else:
            held = table
            manifest = store.write_table(
                asset_key, key, table, run_id=context.run_id, extra=extra, parts=parts
            )
        _written[(context.run_id, "/".join(asset_key), key)] = manifest["version"]
        if audited:
            manifest = {**manifest, "status": STATUS_PENDING}
            if held is not None:
                held_key = (context.run_id, "/".join(asset_key), key, manifest["version"])
                _held.hold(context.run_id, held_key, held)
            return manifest
        try:
            store.publish(asset_key, key, manifest["version"], actor=f"run:{context.run_id}")
        except StalePublishError as error:  # a later run of this partition published first
            context.log.warning(str(error))
            manifest = {**manifest, "status": f"superseded by {error.published}"}
        return manifest

    def _report(self, context: dg.OutputContext, manifests: list[dict[str, Any]]) -> None:
        """Attach each partition's own facts to its own materialization event.

        A single-run backfill emits one event per partition; output-level metadata would
        give all of them the whole run's totals, so partition facts go through the step's
        per-partition asset metadata instead."""
        first = manifests[0]
        shared: dict[str, Any] = {META_CODE_COMMIT: first["code"]["git_commit"], **provenance_metadata(first)}
        spec_metadata = context.asset_spec.metadata if context.has_asset_key else {}
        # An asset with a contract documents its columns in its definition (the contract is
        # the one source of the schema; the UI shows it from there): repeating it on every
        # partition's event would be half of each event's bytes. Others show what was written.
        if spec_metadata.get(COLUMN_SCHEMA_KEY) is None and first.get("schema"):
            shared[COLUMN_SCHEMA_KEY] = _column_schema(first["schema"])
        if first["partition"] is None:
            context.add_output_metadata({**shared, **version_metadata(first)})
            return
        context.add_output_metadata(shared)
        for manifest in manifests:
            context.step_context.add_asset_metadata(
                version_metadata(manifest),
                asset_key=context.asset_key,
                partition_key=manifest["partition"],
            )

    def load_input(self, context: dg.InputContext) -> Any:
        keys = _partition_keys(context)
        columns = (context.definition_metadata or {}).get(COLUMNS_KEY)
        store = self._store()
        asset_key = context.asset_key.path
        step = context.step_context
        manifests = [_pinned(store, step.run_id, asset_key, key) for key in keys]
        _reads[(step.run_id, step.step.key)].extend(upstream_entry(m) for m in manifests)
        # A backfill's partitions are read on a few threads: reading and decoding a file
        # need no GIL, so they overlap (resolving them is Python work, and stays serial).
        with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="version-read") as pool:
            if manifests[0]["kind"] == KIND_FILE:
                read = pool.map(store.read_file, manifests)
                files = {m["partition"]: raw for m, raw in zip(manifests, read, strict=True)}
                return files if context.has_asset_partitions else files[None]
            tables = list(pool.map(lambda manifest: store.read_table(manifest, columns), manifests))
        table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
        if context.dagster_type.typing_type is pa.Table:
            return table
        return table.to_pandas()
