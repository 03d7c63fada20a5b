"""`platform verify`: every pointer, manifest, audit record and data file checked against
what the lake says about it, with every problem listed by path.

Reads check sizes, row counts and file identity as they go; this is the slow, complete
check that also re-computes every file's content hash, for an operator who suspects a
lake (after a disk fault, a bad copy, a hand edit) or a scheduled integrity sweep."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from platform_assets.lake import layout, publish_index
from platform_assets.lake.history import (
    AUDIT_FAILED,
    AUDIT_UNKNOWN,
    audit_state,
    lake_assets,
    parallel_map,
)
from platform_assets.lake.storage import LakeIntegrityError
from platform_assets.lake.versions import KIND_PARQUET, VersionError, VersionStore, check_file_identity


@dataclass
class VerifyReport:
    """What a verification looked at and everything it found wrong."""

    partitions: int = 0
    versions: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)
    # Publish index entries behind their pointers: readers read those pointers, so these
    # are not problems; `repair_index` records them.
    index_notes: list[str] = field(default_factory=list)

    def merge(self, other: VerifyReport) -> None:
        self.partitions += other.partitions
        self.versions += other.versions
        self.files += other.files
        self.bytes += other.bytes
        self.problems.extend(other.problems)
        self.index_notes.extend(other.index_notes)


def verify_file(store: VersionStore, manifest: dict[str, Any], entry: dict[str, Any]) -> int:
    """Check one data file whole (size, content hash, and for Parquet rows and identity);
    return its size. Raises `LakeIntegrityError` naming the file."""
    prefix = layout.version_path(manifest["asset_key"], manifest["partition"], manifest["version"])
    rel = f"{prefix}/{entry['name']}"
    uri = store.storage.uri(rel)
    try:
        data = store.storage.read_bytes(rel)
    except FileNotFoundError:
        raise LakeIntegrityError(f"{uri} is missing (named by its manifest)") from None
    if len(data) != entry["bytes"]:
        raise LakeIntegrityError(f"{uri} is {len(data)} bytes; its manifest says {entry['bytes']}")
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise LakeIntegrityError(f"{uri} does not match the content hash in its manifest")
    if manifest["kind"] == KIND_PARQUET:
        check_file_identity(pq.ParquetFile(io.BytesIO(data)).metadata, manifest, entry, uri)
    return len(data)


def verify_partition(store: VersionStore, asset_key: Sequence[str], partition: str | None) -> VerifyReport:
    report = VerifyReport(partitions=1)
    where = layout.partition_path(asset_key, partition)
    try:
        pointer = store.pointer(asset_key, partition)
    except LakeIntegrityError as error:
        report.problems.append(str(error))
        pointer = None
    versions = store.versions(asset_key, partition)
    if pointer is not None and pointer["version"] not in versions:
        report.problems.append(
            f"{where}: the pointer names {pointer['version']}, which is not a complete version"
        )
    for version in versions:
        report.versions += 1
        try:
            manifest = store.manifest(asset_key, partition, version)
            audit, _ = audit_state(store, manifest)
        except (LakeIntegrityError, VersionError) as error:
            report.problems.append(str(error))
            continue
        if pointer is not None and pointer["version"] == version and audit in (AUDIT_FAILED, AUDIT_UNKNOWN):
            forced = bool(pointer.get("checks", {}).get("forced"))
            if not forced:
                report.problems.append(f"{where}: the published version {version} is {audit}")
        for entry in manifest["files"]:
            try:
                report.bytes += verify_file(store, manifest, entry)
                report.files += 1
            except LakeIntegrityError as error:
                report.problems.append(str(error))
    return report


def verify_lake(
    store: VersionStore,
    assets: Sequence[Sequence[str]] | None = None,
    partitions: Sequence[str] | None = None,
    *,
    repair_index: bool = False,
) -> VerifyReport:
    """Verify the chosen assets (default: every asset in the lake) and partitions, and
    compare each asset's publish index with its pointers (and, with `repair_index`,
    bring it level)."""
    keys = [list(a) for a in assets] if assets else [list(k) for k in lake_assets(store)]
    report = VerifyReport()
    for key in keys:
        found: list[str | None] = list(store.partitions(key)) or [None]
        chosen = [p for p in found if partitions is None or p in partitions]
        for one in parallel_map(lambda p, key=key: verify_partition(store, key, p), chosen):
            report.merge(one)
        if found != [None]:
            report.index_notes.extend(publish_index.repair(store, key, apply=repair_index))
    return report
