"""Immutable versions of an asset partition, and the pointer that publishes one.

A version is a folder of data files followed by `_manifest.json`; the manifest is
the commit marker, so a folder without one is an interrupted write and is never
read. Publishing rewrites the small `_published.json` pointer with one conditional
write (compare-and-swap against the pointer it read), which is also all a rollback
does: no data is copied.

Everything read here is checked before it is trusted: pointers and manifests are read
whole and must parse into what they claim to be, and data files must match the size,
row count and identity their manifest records. Whatever is wrong is named by path."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from platform_assets.governance import audit_log
from platform_assets.lake import layout, publish_index
from platform_assets.lake.storage import (
    CAS_ATTEMPTS,
    LakeIntegrityError,
    LakeStorage,
    PreconditionFailed,
    cas_backoff,
    json_bytes,
)

MANIFEST_FORMAT = 1
POINTER_HISTORY_LIMIT = 100
KIND_PARQUET = "parquet"
KIND_FILE = "file"
EVENT_PUBLISH = "publish"
# Parquet footer keys naming what a data file belongs to, so a file copied over another
# partition's is caught from its footer (the version is left out: an unchanged rebuild
# must keep its content hash).
FILE_ASSET_KEY = b"platform.asset"
FILE_PARTITION_KEY = b"platform.partition"
# A compare-and-swap that keeps losing is retried this often before giving up loudly.
# A small object that does not parse is read again this often: a torn read is retried,
# a corrupt object is reported.
READ_ATTEMPTS = 3


@dataclass(frozen=True)
class EncodedPart:
    """One Parquet part file of a version, encoded but not yet written."""

    data: bytes
    rows: int
    sha256: str
    seconds: float  # spent encoding it, counted in the version's write time


class VersionError(RuntimeError):
    """A version that is missing, incomplete, or may not be written or published."""


class NotPublishedError(VersionError):
    """The asset partition has no published version for readers to see."""


class StalePublishError(VersionError):
    """A publish that would replace a newer published version with an older one."""

    def __init__(self, message: str, published: str) -> None:
        super().__init__(message)
        self.published = published


class PublishConflictError(VersionError):
    """A pointer that other writers kept changing until this one gave up."""


def read_json(storage: LakeStorage, rel: str, what: str) -> tuple[Any, str] | None:
    """(parsed JSON, token) of a small object read whole; None when it does not exist.

    An unparsable read is tried again (a torn read heals, a corrupt object does not),
    then reported as a `LakeIntegrityError` naming the object."""
    for attempt in range(READ_ATTEMPTS):
        found = storage.read_object(rel)
        if found is None:
            return None
        data, token = found
        try:
            return json.loads(data), token
        except (ValueError, UnicodeDecodeError) as error:
            if attempt + 1 >= READ_ATTEMPTS:
                raise LakeIntegrityError(
                    f"{storage.uri(rel)} is not a readable {what} ({len(data)} bytes, {error})"
                ) from None
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def check_pointer(value: Any, uri: str) -> dict[str, Any]:
    """The pointer as readers rely on it, or a `LakeIntegrityError` that says what is wrong."""
    if not isinstance(value, dict) or not value:
        raise LakeIntegrityError(f"{uri} is not a publish pointer (it holds {json.dumps(value)[:40]})")
    version = value.get("version")
    if not isinstance(version, str) or not layout.is_version_id(version):
        raise LakeIntegrityError(f"{uri} names no valid version (version={version!r})")
    if not isinstance(value.get("history", []), list):
        raise LakeIntegrityError(f"{uri} has a malformed history")
    return value


def check_manifest(value: Any, uri: str, version: str) -> dict[str, Any]:
    """The manifest as readers rely on it: complete, and describing the version it sits in."""
    if not isinstance(value, dict) or not value:
        raise LakeIntegrityError(f"{uri} is not a manifest (it holds {json.dumps(value)[:40]})")
    if value.get("version") != version:
        raise LakeIntegrityError(f"{uri} describes version {value.get('version')!r}, not {version}")
    files = value.get("files")
    if value.get("kind") not in (KIND_PARQUET, KIND_FILE) or not isinstance(files, list):
        raise LakeIntegrityError(f"{uri} is missing its kind or file list")
    for entry in files:
        if not isinstance(entry, dict) or not {"name", "bytes", "sha256"} <= set(entry):
            raise LakeIntegrityError(f"{uri} has a malformed file entry: {entry!r}"[:300])
    return value


@dataclass(frozen=True)
class RawFile:
    """A landed source file carried byte for byte into the raw zone."""

    name: str
    data: bytes
    source_uri: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def schema_fields(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": field.name, "type": str(field.type)} for field in schema]


def schema_hash(schema: pa.Schema) -> str:
    text = json.dumps(schema_fields(schema), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def encode_schema(schema: pa.Schema) -> str:
    """The exact Arrow schema, so readers can plan a scan without opening any data file."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def decode_schema(manifest: dict[str, Any]) -> pa.Schema | None:
    """The Arrow schema recorded in a manifest; None for manifests written before it was."""
    encoded = manifest.get("arrow_schema")
    if not encoded:
        return None
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(encoded)))


def _timings(extra: dict[str, Any] | None, started: float) -> dict[str, Any]:
    """The caller's timings plus how long this write took (before its manifest)."""
    return {**(extra or {}).get("timings", {}), "write_seconds": round(time.perf_counter() - started, 3)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class VersionStore:
    """Writes, lists, publishes and reads versions through one `LakeStorage`."""

    def __init__(self, storage: LakeStorage, target_file_bytes: int = 128 * 1024 * 1024) -> None:
        self.storage = storage
        self.target_file_bytes = target_file_bytes
        self._index_records: list[publish_index.Record] | None = None  # while `index_batch` is open

    @contextmanager
    def index_batch(self) -> Iterator[None]:
        """Publishes inside record their index entries on leaving, one write per shard.

        Each pointer still moves at its own publish; only the index (a shortcut readers
        confirm against the pointers) is brought up afterwards, also when the block
        raises. A process killed inside leaves those entries lagging, which readers see
        and read the pointers for, as after any index write that did not happen."""
        if self._index_records is not None:  # already batching: the outer block records
            yield
            return
        self._index_records = []
        try:
            yield
        finally:
            records, self._index_records = self._index_records, None
            publish_index.record_many(self, records)

    def _rows_per_file(self, table: pa.Table) -> int:
        """Rows per part file, from the in-memory width of a row.

        Parquet compresses well below the Arrow size, so files land at or under the
        target; what matters is that a year of data never becomes one huge file."""
        if table.num_rows == 0:
            return 1
        bytes_per_row = max(1.0, table.nbytes / table.num_rows)
        return max(1, int(self.target_file_bytes / bytes_per_row))

    def encode(self, asset_key: Sequence[str], partition: str | None, table: pa.Table) -> list[EncodedPart]:
        """`table` as the Parquet part files of a version of the partition, in memory.

        Touches no storage and holds the GIL only briefly (Arrow encodes and compresses
        without it), so a caller can encode the next partitions on other threads while
        it writes this one."""
        rows_per_file = self._rows_per_file(table)
        identity = {
            FILE_ASSET_KEY: "/".join(asset_key).encode(),
            FILE_PARTITION_KEY: (partition or "").encode(),
        }
        parts = []
        for offset in range(0, max(table.num_rows, 1), rows_per_file):
            started = time.perf_counter()
            chunk = table.slice(offset, rows_per_file)
            chunk = chunk.replace_schema_metadata({**(chunk.schema.metadata or {}), **identity})
            sink = pa.BufferOutputStream()
            pq.write_table(chunk, sink, compression="zstd")
            data = sink.getvalue().to_pybytes()
            digest = hashlib.sha256(data).hexdigest()
            parts.append(EncodedPart(data, chunk.num_rows, digest, time.perf_counter() - started))
        return parts

    def _begin(
        self, asset_key: Sequence[str], partition: str | None, run_id: str, version: str | None = None
    ) -> tuple[str, str]:
        version = version or layout.new_version_id(run_id)
        prefix = layout.version_path(asset_key, partition, version)
        if self.storage.exists(prefix):
            raise VersionError(f"version {version} of {prefix} already exists; versions are immutable")
        self.storage.prepare_dir(prefix)
        return version, prefix

    def _commit(self, prefix: str, manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["manifest_uri"] = self.storage.uri(f"{prefix}/{layout.MANIFEST_FILE}")
        manifest["uri"] = self.storage.uri(prefix)
        body = json_bytes(manifest)
        self.storage.write_bytes(f"{prefix}/{layout.MANIFEST_FILE}", body)
        return manifest

    def write_table(
        self,
        asset_key: Sequence[str],
        partition: str | None,
        table: pa.Table,
        *,
        run_id: str,
        extra: dict[str, Any] | None = None,
        version: str | None = None,
        parts: Sequence[EncodedPart] | None = None,
    ) -> dict[str, Any]:
        """Write `table` as a new version; return its manifest (not yet published).

        `version` names the version explicitly, so rows rejected from a version can be kept
        in the quarantine zone under the same id; it must still be new. `parts` is
        `encode(asset_key, partition, table)` when the caller encoded it ahead."""
        started = time.perf_counter()
        if parts is not None and sum(part.rows for part in parts) != table.num_rows:
            raise VersionError(
                f"{layout.partition_path(asset_key, partition)}: the encoded parts hold "
                f"{sum(p.rows for p in parts)} rows and the table {table.num_rows}; "
                "they were encoded from another table"
            )
        version, prefix = self._begin(asset_key, partition, run_id, version)
        if parts is None:
            parts = self.encode(asset_key, partition, table)
        else:  # encoded ahead, on another thread: its time is still this version's
            started -= sum(part.seconds for part in parts)
        files: list[dict[str, Any]] = []
        content = hashlib.sha256()
        for index, part in enumerate(parts):
            name = f"part-{index:05d}.parquet"
            self.storage.write_bytes(f"{prefix}/{name}", part.data)
            content.update(part.sha256.encode())
            files.append({"name": name, "bytes": len(part.data), "rows": part.rows, "sha256": part.sha256})
        manifest = {
            **(extra or {}),
            "format": MANIFEST_FORMAT,
            "kind": KIND_PARQUET,
            "asset_key": list(asset_key),
            "partition": partition,
            "version": version,
            "run_id": run_id,
            "created_at": _now(),
            "row_count": table.num_rows,
            "schema": schema_fields(table.schema),
            "schema_hash": schema_hash(table.schema),
            "arrow_schema": encode_schema(table.schema),
            "content_hash": content.hexdigest(),
            "bytes": sum(f["bytes"] for f in files),
            "files": files,
            "timings": _timings(extra, started),
        }
        return self._commit(prefix, manifest)

    def write_file(
        self,
        asset_key: Sequence[str],
        partition: str | None,
        raw: RawFile,
        *,
        run_id: str,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Keep a landed file byte for byte as a new version."""
        name = layout.check_file_name(raw.name)
        started = time.perf_counter()
        version, prefix = self._begin(asset_key, partition, run_id)
        self.storage.write_bytes(f"{prefix}/{name}", raw.data)
        manifest = {
            **(extra or {}),
            "format": MANIFEST_FORMAT,
            "kind": KIND_FILE,
            "asset_key": list(asset_key),
            "partition": partition,
            "version": version,
            "run_id": run_id,
            "created_at": _now(),
            "source_uri": raw.source_uri,
            "content_hash": raw.sha256,
            "bytes": len(raw.data),
            "files": [{"name": name, "bytes": len(raw.data), "sha256": raw.sha256}],
            "timings": _timings(extra, started),
        }
        return self._commit(prefix, manifest)

    def versions(self, asset_key: Sequence[str], partition: str | None) -> list[str]:
        """Complete versions (those with a manifest), oldest first."""
        base = layout.partition_path(asset_key, partition)
        found = []
        for name in self.storage.list_names(base):
            if not name.startswith("v="):
                continue
            version = name[2:]
            if self.storage.exists(f"{base}/{name}/{layout.MANIFEST_FILE}"):
                found.append(version)
        return sorted(found)

    def partitions(self, asset_key: Sequence[str]) -> list[str]:
        prefix = f"{layout.PARTITION_LEVEL}="
        base = layout.asset_path(asset_key)
        return sorted(n[len(prefix) :] for n in self.storage.list_names(base) if n.startswith(prefix))

    def manifest(self, asset_key: Sequence[str], partition: str | None, version: str) -> dict[str, Any]:
        return self.manifest_and_token(asset_key, partition, version)[0]

    def manifest_and_token(
        self, asset_key: Sequence[str], partition: str | None, version: str
    ) -> tuple[dict[str, Any], str]:
        """The manifest and its token (ETag or hash): the publish index records which one it named."""
        path = f"{layout.version_path(asset_key, partition, version)}/{layout.MANIFEST_FILE}"
        found = read_json(self.storage, path, "manifest")
        if found is None:
            raise VersionError(
                f"{layout.partition_path(asset_key, partition)} has no complete version {version}"
            )
        return check_manifest(found[0], self.storage.uri(path), version), found[1]

    def written_by(
        self, asset_key: Sequence[str], partition: str | None, run_id: str
    ) -> dict[str, Any] | None:
        """The manifest of the newest complete version run `run_id` wrote, if any.

        Version ids end in the run id's prefix, so one listing finds the candidates; the
        manifest's own run id settles it (interrupted writes have none and are skipped)."""
        suffix = "-" + layout.new_version_id(run_id).split("-", 1)[1]
        folder = layout.partition_path(asset_key, partition)
        names = [n[2:] for n in self.storage.list_names(folder) if n.startswith("v=") and n.endswith(suffix)]
        for version in sorted(names, reverse=True):
            try:
                manifest = self.manifest(asset_key, partition, version)
            except VersionError:
                continue  # an interrupted write
            if manifest.get("run_id") == run_id:
                return manifest
        return None

    def pointer(self, asset_key: Sequence[str], partition: str | None) -> dict[str, Any] | None:
        """The partition's publish pointer; None when nothing was ever published.

        A pointer that exists but is corrupt raises `LakeIntegrityError`: treating it as
        absent would make the partition silently disappear from readers."""
        return self._pointer_state(asset_key, partition)[0]

    def _pointer_state(
        self, asset_key: Sequence[str], partition: str | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        rel = layout.pointer_path(asset_key, partition)
        found = read_json(self.storage, rel, "publish pointer")
        if found is None:
            return None, None
        return check_pointer(found[0], self.storage.uri(rel)), found[1]

    def published_version(self, asset_key: Sequence[str], partition: str | None) -> str | None:
        pointer = self.pointer(asset_key, partition)
        return pointer["version"] if pointer else None

    def publish(
        self,
        asset_key: Sequence[str],
        partition: str | None,
        version: str,
        *,
        event: str = EVENT_PUBLISH,
        actor: str | None = None,
        reason: str | None = None,
        checks: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Point readers at `version`: one compare-and-swap of the pointer.

        The new pointer is computed from the one just read and written only if that is
        still the pointer; a writer that lost the race reads again and re-applies its
        change, so concurrent publishes and rollbacks each keep their history entry and
        none overwrites another. A publish never replaces a newer published version with
        an older one (a run that finishes after a later run of the same partition):
        that raises `StalePublishError`. Only a rollback moves the pointer back, and its
        history entry says so. Publishing the version already published changes nothing.

        The move is then recorded in the asset's publish index (see `publish_index`), with
        the tokens of the pointer written and the manifest published, so readers can plan
        from the index and tell when it lags: at once, or on leaving `index_batch`."""
        # The manifest read also refuses incomplete versions.
        manifest, manifest_token = self.manifest_and_token(asset_key, partition, version)
        rel = layout.pointer_path(asset_key, partition)
        where = self.storage.uri(rel)
        for attempt in range(CAS_ATTEMPTS):
            current, token = self._pointer_state(asset_key, partition)
            published = current["version"] if current else None
            if event == EVENT_PUBLISH and published is not None:
                if published == version:
                    return current  # type: ignore[return-value]
                if published > version:
                    raise StalePublishError(
                        f"{where}: not publishing {version}: the newer {published} is already "
                        "published (a later run finished first); roll back to publish an older version",
                        published,
                    )
            pointer = _next_pointer(current, version, event, actor, reason, checks)
            body = json_bytes(pointer)
            try:
                written = self.storage.write_object_if(rel, body, expected=token)
            except PreconditionFailed:
                cas_backoff(attempt)
                continue
            if partition is not None:
                entry = (asset_key, partition, manifest, pointer, (written, manifest_token))
                if self._index_records is None:
                    publish_index.record_many(self, [entry])
                else:
                    self._index_records.append(entry)
            # Audit trail (governance): one create-only record per pointer move; `event` is the action.
            audit_log.append(
                self.storage, event, asset=asset_key, partitions=[partition], versions=[version], actor=actor,
                details={"previous_version": published, "reason": reason},
            )  # fmt: skip
            return pointer
        raise PublishConflictError(
            f"{where}: gave up publishing {version} after {CAS_ATTEMPTS} attempts: other writers kept "
            "changing the pointer; nothing was overwritten, run it again"
        )

    def resolve(
        self, asset_key: Sequence[str], partition: str | None, version: str | None = None
    ) -> dict[str, Any]:
        """The manifest readers should use: the pinned version, else the published one."""
        if version is not None:
            return self.manifest(asset_key, partition, version)
        version = self.published_version(asset_key, partition)
        where = layout.partition_path(asset_key, partition)
        if version is None:
            raise NotPublishedError(f"{where} has no published version; materialize it first")
        try:
            return self.manifest(asset_key, partition, version)
        except VersionError:
            raise LakeIntegrityError(
                f"{self.storage.uri(layout.pointer_path(asset_key, partition))} publishes {version}, "
                "which has no manifest (deleted or never completed)"
            ) from None

    def data_paths(self, manifest: dict[str, Any]) -> list[str]:
        prefix = layout.version_path(manifest["asset_key"], manifest["partition"], manifest["version"])
        return [self.storage.full_path(f"{prefix}/{f['name']}") for f in manifest["files"]]

    def read_table(self, manifest: dict[str, Any], columns: Sequence[str] | None = None) -> pa.Table:
        """The version's rows, each file checked against the manifest before it is trusted.

        Size, row count and the asset and partition in the file's footer must match: a
        file truncated, replaced or copied over from another day is an error naming the
        file, never data. (The content hash is checked by `platform verify`.)"""
        if manifest["kind"] != KIND_PARQUET:
            raise VersionError(f"{manifest['uri']} holds files, not a table")
        schema = decode_schema(manifest)
        if columns is not None and schema is not None:
            missing = [c for c in columns if c not in schema.names]
            if missing:
                raise VersionError(
                    f"{'/'.join(manifest['asset_key'])} has no column(s) {missing}; it has {schema.names}"
                )
        selected = list(columns) if columns is not None else None
        tables = [self._read_part(manifest, entry, selected) for entry in manifest["files"]]
        if len(tables) == 1:
            return tables[0]
        return pa.concat_tables(tables, promote_options="permissive")

    def _read_part(
        self, manifest: dict[str, Any], entry: dict[str, Any], columns: list[str] | None
    ) -> pa.Table:
        prefix = layout.version_path(manifest["asset_key"], manifest["partition"], manifest["version"])
        rel = f"{prefix}/{entry['name']}"
        path = self.storage.full_path(rel)

        def read() -> pa.Table:
            try:
                handle = self.storage.fs.open_input_file(path)
            except FileNotFoundError:
                raise LakeIntegrityError(
                    f"{self.storage.uri(rel)} is missing (named by its manifest)"
                ) from None
            with handle:
                size = handle.size()
                if size != entry["bytes"]:
                    raise LakeIntegrityError(
                        f"{self.storage.uri(rel)} is {size} bytes; its manifest says {entry['bytes']}"
                    )
                try:
                    parquet = pq.ParquetFile(handle)
                except pa.ArrowInvalid as error:
                    raise LakeIntegrityError(
                        f"{self.storage.uri(rel)} is not readable Parquet: {error}"
                    ) from None
                check_file_identity(parquet.metadata, manifest, entry, self.storage.uri(rel))
                if columns is not None:
                    missing = [c for c in columns if c not in parquet.schema_arrow.names]
                    if missing:
                        raise VersionError(
                            f"{'/'.join(manifest['asset_key'])} has no column(s) {missing}; "
                            f"it has {parquet.schema_arrow.names}"
                        )
                return parquet.read(columns=columns)

        return self.storage.retrying("read", rel, read)

    def read_file(self, manifest: dict[str, Any]) -> RawFile:
        if manifest["kind"] != KIND_FILE:
            raise VersionError(f"{manifest['uri']} holds a table, not a file")
        (entry,) = manifest["files"]
        prefix = layout.version_path(manifest["asset_key"], manifest["partition"], manifest["version"])
        rel = f"{prefix}/{entry['name']}"
        try:
            data = self.storage.read_bytes(rel)
        except FileNotFoundError:
            raise LakeIntegrityError(f"{self.storage.uri(rel)} is missing (named by its manifest)") from None
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise LakeIntegrityError(f"{self.storage.uri(rel)} does not match the checksum in its manifest")
        return RawFile(entry["name"], data, manifest.get("source_uri", ""))


def check_file_identity(
    metadata: pq.FileMetaData, manifest: dict[str, Any], entry: dict[str, Any], uri: str
) -> None:
    """A data file's footer against what its manifest says it is.

    Files written before footers carried their identity are checked on rows alone."""
    rows = entry.get("rows")
    if rows is not None and metadata.num_rows != rows:
        raise LakeIntegrityError(f"{uri} has {metadata.num_rows} rows; its manifest says {rows}")
    recorded = metadata.metadata or {}
    asset = recorded.get(FILE_ASSET_KEY)
    if asset is not None and asset.decode() != "/".join(manifest["asset_key"]):
        raise LakeIntegrityError(f"{uri} belongs to {asset.decode()}, not {'/'.join(manifest['asset_key'])}")
    partition = recorded.get(FILE_PARTITION_KEY)
    if partition is not None and partition.decode() != (manifest["partition"] or ""):
        raise LakeIntegrityError(
            f"{uri} holds partition {partition.decode() or '(none)'}, not {manifest['partition']}"
        )


def _next_pointer(
    current: dict[str, Any] | None,
    version: str,
    event: str,
    actor: str | None,
    reason: str | None,
    checks: dict[str, Any] | None,
) -> dict[str, Any]:
    """The pointer after one more publish or rollback, its history newest first."""
    current = current or {}
    entry = {"version": version, "event": event, "at": _now(), "actor": actor, "reason": reason}
    return {
        "version": version,
        "previous_version": current.get("version"),
        "published_at": entry["at"],
        "event": event,
        "checks": checks or {},
        # Counts every move of the pointer, so a lost update would show as a gap.
        "sequence": int(current.get("sequence", len(current.get("history", [])))) + 1,
        "history": [entry, *current.get("history", [])][:POINTER_HISTORY_LIMIT],
    }
