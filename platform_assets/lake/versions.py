"""Immutable versions of an asset partition, and the pointer that publishes one.

A version is a folder of data files followed by `_manifest.json`; the manifest is
the commit marker, so a folder without one is an interrupted write and is never
read. Publishing rewrites the small `_published.json` pointer in one atomic write,
which is also all a rollback does: no data is copied."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from platform_assets.governance import audit_log
from platform_assets.lake import layout
from platform_assets.lake.storage import LakeStorage

MANIFEST_FORMAT = 1
POINTER_HISTORY_LIMIT = 100
KIND_PARQUET = "parquet"
KIND_FILE = "file"


class VersionError(RuntimeError):
    """A version that is missing, incomplete, or may not be written or published."""


class NotPublishedError(VersionError):
    """The asset partition has no published version for readers to see."""


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

    def _rows_per_file(self, table: pa.Table) -> int:
        """Rows per part file, from the in-memory width of a row.

        Parquet compresses well below the Arrow size, so files land at or under the
        target; what matters is that a year of data never becomes one huge file."""
        if table.num_rows == 0:
            return 1
        bytes_per_row = max(1.0, table.nbytes / table.num_rows)
        return max(1, int(self.target_file_bytes / bytes_per_row))

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
        body = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
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
    ) -> dict[str, Any]:
        """Write `table` as a new version; return its manifest (not yet published).

        `version` names the version explicitly, so rows rejected from a version can be kept
        in the quarantine zone under the same id; it must still be new."""
        started = time.perf_counter()
        version, prefix = self._begin(asset_key, partition, run_id, version)
        rows_per_file = self._rows_per_file(table)
        files: list[dict[str, Any]] = []
        content = hashlib.sha256()
        offsets = range(0, max(table.num_rows, 1), rows_per_file)
        for index, offset in enumerate(offsets):
            chunk = table.slice(offset, rows_per_file)
            buffer = io.BytesIO()
            pq.write_table(chunk, buffer, compression="zstd")
            data = buffer.getvalue()
            name = f"part-{index:05d}.parquet"
            self.storage.write_bytes(f"{prefix}/{name}", data)
            digest = hashlib.sha256(data).hexdigest()
            content.update(digest.encode())
            files.append({"name": name, "bytes": len(data), "rows": chunk.num_rows, "sha256": digest})
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
        path = f"{layout.version_path(asset_key, partition, version)}/{layout.MANIFEST_FILE}"
        try:
            return json.loads(self.storage.read_bytes(path))
        except FileNotFoundError:
            raise VersionError(
                f"{layout.partition_path(asset_key, partition)} has no complete version {version}"
            ) from None

    def pointer(self, asset_key: Sequence[str], partition: str | None) -> dict[str, Any] | None:
        try:
            return json.loads(self.storage.read_bytes(layout.pointer_path(asset_key, partition)))
        except FileNotFoundError:
            return None

    def published_version(self, asset_key: Sequence[str], partition: str | None) -> str | None:
        pointer = self.pointer(asset_key, partition)
        return pointer["version"] if pointer else None

    def publish(
        self,
        asset_key: Sequence[str],
        partition: str | None,
        version: str,
        *,
        event: str = "publish",
        actor: str | None = None,
        reason: str | None = None,
        checks: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Point readers at `version` with one atomic write of the pointer."""
        self.manifest(asset_key, partition, version)  # refuses incomplete versions
        current = self.pointer(asset_key, partition) or {}
        entry = {
            "version": version,
            "event": event,
            "at": _now(),
            "actor": actor,
            "reason": reason,
        }
        history = [entry, *current.get("history", [])][:POINTER_HISTORY_LIMIT]
        pointer = {
            "version": version,
            "previous_version": current.get("version"),
            "published_at": entry["at"],
            "event": event,
            "checks": checks or {},
            "history": history,
        }
        body = json.dumps(pointer, indent=2, sort_keys=True).encode()
        self.storage.write_bytes(layout.pointer_path(asset_key, partition), body)
        # Audit trail (governance): one create-only record per pointer move; `event` is the action.
        audit_log.append(
            self.storage, event, asset=asset_key, partitions=[partition], versions=[version], actor=actor,
            details={"previous_version": current.get("version"), "reason": reason},
        )  # fmt: skip
        return pointer

    def resolve(
        self, asset_key: Sequence[str], partition: str | None, version: str | None = None
    ) -> dict[str, Any]:
        """The manifest readers should use: the pinned version, else the published one."""
        if version is None:
            version = self.published_version(asset_key, partition)
            if version is None:
                where = layout.partition_path(asset_key, partition)
                raise NotPublishedError(f"{where} has no published version; materialize it first")
        return self.manifest(asset_key, partition, version)

    def data_paths(self, manifest: dict[str, Any]) -> list[str]:
        prefix = layout.version_path(manifest["asset_key"], manifest["partition"], manifest["version"])
        return [self.storage.full_path(f"{prefix}/{f['name']}") for f in manifest["files"]]

    def read_table(self, manifest: dict[str, Any], columns: Sequence[str] | None = None) -> pa.Table:
        if manifest["kind"] != KIND_PARQUET:
            raise VersionError(f"{manifest['uri']} holds files, not a table")
        paths = self.data_paths(manifest)
        dataset = self.storage.retrying(
            "read", manifest["uri"], lambda: pads.dataset(paths, filesystem=self.storage.fs, format="parquet")
        )
        if columns is not None:
            missing = [c for c in columns if c not in dataset.schema.names]
            if missing:
                raise VersionError(
                    f"{'/'.join(manifest['asset_key'])} has no column(s) {missing}; "
                    f"it has {dataset.schema.names}"
                )
        selected = list(columns) if columns is not None else None
        return self.storage.retrying("read", manifest["uri"], lambda: dataset.to_table(columns=selected))

    def read_file(self, manifest: dict[str, Any]) -> RawFile:
        if manifest["kind"] != KIND_FILE:
            raise VersionError(f"{manifest['uri']} holds a table, not a file")
        (entry,) = manifest["files"]
        prefix = layout.version_path(manifest["asset_key"], manifest["partition"], manifest["version"])
        data = self.storage.read_bytes(f"{prefix}/{entry['name']}")
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise VersionError(f"{manifest['uri']}/{entry['name']} does not match its checksum")
        return RawFile(entry["name"], data, manifest.get("source_uri", ""))
