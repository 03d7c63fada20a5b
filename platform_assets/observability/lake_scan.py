"""What the lake says about each asset: published versions, held-back writes, quarantine, checks.

A scrape must stay cheap on a lake of years, so the scanner lists each asset once
(one recursive listing: on S3 a few `ListObjectsV2` pages) and reads only files whose
listing entry changed since the last scan: a pointer or an `_audit.json` whose size or
modification time moved, a manifest it has not seen (manifests are immutable, so each
is read once per exporter). Reads go through `VersionStore` and `history`, the same
code every reader uses. A file that cannot be read or parsed becomes an error count for
its asset; the rest of the lake is still reported."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from platform_assets import logs
from platform_assets.lake import history, layout, publish_index
from platform_assets.lake.storage import LakeFile, LakeIntegrityError
from platform_assets.lake.versions import VersionError, VersionStore

ERROR_POINTER = "pointer"
ERROR_MANIFEST = "manifest"
ERROR_AUDIT = "audit"
ERROR_LISTING = "listing"
_VERSION_PREFIX = "v="
_PARTITION_PREFIX = f"{layout.PARTITION_LEVEL}="
# What an unreadable or malformed lake file raises through VersionStore and history.
_UNREADABLE = (
    VersionError,
    LakeIntegrityError,
    layout.AssetPathError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
)


@dataclass(frozen=True)
class VersionFacts:
    """The few manifest facts metrics need, kept instead of the whole manifest."""

    version: str
    run_id: str
    rows: int | None
    bytes: int
    content_hash: str
    offered: int | None  # rows screened, when the asset quarantines
    quarantined: int
    cpu_seconds: float | None
    peak_rss_bytes: int | None
    storage: dict[str, dict[str, int]]

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> VersionFacts:
        quarantine = manifest.get("quarantine") or {}
        timings = manifest.get("timings") or {}
        return cls(
            version=str(manifest["version"]),
            run_id=str(manifest.get("run_id") or ""),
            rows=manifest.get("row_count"),
            bytes=int(manifest.get("bytes") or 0),
            content_hash=str(manifest.get("content_hash") or ""),
            offered=int(quarantine["offered"]) if "offered" in quarantine else None,
            quarantined=int(quarantine.get("rejected", 0)),
            cpu_seconds=timings.get("cpu_seconds"),
            peak_rss_bytes=timings.get("peak_rss_bytes"),
            storage=manifest.get("storage") or {},
        )


@dataclass
class PartitionFacts:
    """One partition as readers and on-call see it."""

    partition: str | None
    versions: list[str] = field(default_factory=list)  # complete, oldest first
    published: str | None = None
    published_at: float | None = None
    failed_checks: dict[str, int] = field(default_factory=dict)  # newest version's, by severity
    errors: dict[str, str] = field(default_factory=dict)  # kind -> message

    @property
    def newest(self) -> str | None:
        return self.versions[-1] if self.versions else None

    @property
    def unpublished_newer(self) -> int:
        """Complete versions written after the published one (all of them if none is)."""
        if self.published is None:
            return len(self.versions)
        return sum(1 for v in self.versions if v > self.published)


@dataclass
class AssetFacts:
    zone: str
    name: str
    partitions: dict[str | None, PartitionFacts] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # kind -> partitions affected

    @property
    def key(self) -> tuple[str, str]:
        return (self.zone, self.name)


def partition_end(partition: str | None) -> float | None:
    """When a daily partition's day ends (UTC): the moment its data is complete."""
    if partition is None:
        return None
    day = datetime.combine(date.fromisoformat(partition), datetime.min.time(), UTC)
    return (day + timedelta(days=1)).timestamp()


def _timestamp(text: str | None) -> float | None:
    return history.parse_time(text).timestamp() if text else None


class LakeScanner:
    """Keeps what it read between scans, keyed by each file's listing fingerprint."""

    def __init__(self, store: VersionStore) -> None:
        self.store = store
        self._manifests: dict[tuple[str, str, str | None, str], VersionFacts] = {}
        self._pointers: dict[str, tuple[tuple[int, int | None], dict[str, Any] | None]] = {}
        self._audits: dict[str, tuple[tuple[int, int | None], dict[str, int]]] = {}
        self._reported: set[tuple[str, str]] = set()
        self.reads = 0  # files read by the last scan: what "reads only what changed" means

    def manifest(self, zone: str, name: str, partition: str | None, version: str) -> VersionFacts | None:
        return self._manifests.get((zone, name, partition, version))

    def scan(self) -> list[AssetFacts]:
        self.reads = 0
        assets = []
        for zone, name in history.lake_assets(self.store):
            assets.append(self._scan_asset(zone, name))
        return assets

    def _scan_asset(self, zone: str, name: str) -> AssetFacts:
        facts = AssetFacts(zone, name)
        base = layout.asset_path([zone, name])
        try:
            files = list(self.store.storage.list_files(base, recursive=True))
        except OSError as error:
            facts.errors[ERROR_LISTING] = 1
            self._report(base, ERROR_LISTING, str(error))
            return facts
        grouped: dict[str | None, list[tuple[list[str], LakeFile]]] = {}
        for entry in files:
            if not entry.path.endswith(".json") or publish_index.is_index_path(entry.path):
                continue  # data files and the publish index: pointers, manifests and audits say it all
            parts = entry.path[len(base) + 1 :].split("/")
            partition: str | None = None
            if parts[0].startswith(_PARTITION_PREFIX):
                partition = parts[0][len(_PARTITION_PREFIX) :]
                parts = parts[1:]
            grouped.setdefault(partition, []).append((parts, entry))
        for partition, entries in sorted(grouped.items(), key=lambda item: item[0] or ""):
            facts.partitions[partition] = self._scan_partition(zone, name, partition, entries)
            for kind in facts.partitions[partition].errors:
                facts.errors[kind] = facts.errors.get(kind, 0) + 1
        return facts

    def _scan_partition(
        self, zone: str, name: str, partition: str | None, entries: list[tuple[list[str], LakeFile]]
    ) -> PartitionFacts:
        facts = PartitionFacts(partition)
        key = [zone, name]
        pointer_file: LakeFile | None = None
        audits: dict[str, LakeFile] = {}
        for parts, entry in entries:
            if parts == [layout.POINTER_FILE]:
                pointer_file = entry
            elif len(parts) == 2 and parts[0].startswith(_VERSION_PREFIX):
                version = parts[0][len(_VERSION_PREFIX) :]
                if parts[1] == layout.MANIFEST_FILE:
                    facts.versions.append(version)
                elif parts[1] == history.AUDIT_FILE:
                    audits[version] = entry
        facts.versions.sort()
        for version in facts.versions:
            if (zone, name, partition, version) not in self._manifests:
                self._read_manifest(facts, key, version)
        if pointer_file is not None:
            pointer = self._pointer(facts, key, pointer_file)
            if pointer is not None:
                facts.published = pointer.get("version")
                facts.published_at = _timestamp(pointer.get("published_at"))
                if facts.published and (zone, name, partition, facts.published) not in self._manifests:
                    if not facts.errors.get(ERROR_MANIFEST):
                        self._read_manifest(facts, key, facts.published)
        newest = facts.newest
        if newest is not None and newest in audits:
            facts.failed_checks = self._failed_checks(facts, key, newest, audits[newest])
        return facts

    def _read_manifest(self, facts: PartitionFacts, key: list[str], version: str) -> None:
        where = layout.version_path(key, facts.partition, version)
        try:
            self.reads += 1
            manifest = self.store.manifest(key, facts.partition, version)
            self._manifests[(key[0], key[1], facts.partition, version)] = VersionFacts.from_manifest(manifest)
        except _UNREADABLE as error:
            facts.errors[ERROR_MANIFEST] = str(error)
            self._report(where, ERROR_MANIFEST, str(error))

    def _pointer(self, facts: PartitionFacts, key: list[str], entry: LakeFile) -> dict[str, Any] | None:
        fingerprint = (entry.size, entry.mtime_ns)
        cached = self._pointers.get(entry.path)
        if cached is not None and cached[0] == fingerprint:
            if cached[1] is None:
                facts.errors[ERROR_POINTER] = "unreadable (unchanged since the last scan)"
            return cached[1]
        pointer: dict[str, Any] | None = None
        try:
            self.reads += 1
            pointer = self.store.pointer(key, facts.partition)
            if not isinstance(pointer, dict) or not isinstance(pointer.get("version"), str):
                raise VersionError("has no version")
            layout.validate_version_id(pointer["version"])
        except _UNREADABLE as error:
            pointer = None
            facts.errors[ERROR_POINTER] = str(error)
            self._report(entry.path, ERROR_POINTER, str(error))
        self._pointers[entry.path] = (fingerprint, pointer)
        return pointer

    def _failed_checks(
        self, facts: PartitionFacts, key: list[str], version: str, entry: LakeFile
    ) -> dict[str, int]:
        fingerprint = (entry.size, entry.mtime_ns)
        cached = self._audits.get(entry.path)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        failed: dict[str, int] = {}
        try:
            self.reads += 1
            prefix = layout.version_path(key, facts.partition, version)
            record = history.audit_status(self.store.storage, prefix) or {}
            for result in (record.get("checks") or {}).values():
                if isinstance(result, dict) and result.get("passed") is False:
                    severity = str(result.get("severity") or "ERROR").upper()
                    failed[severity] = failed.get(severity, 0) + 1
        except _UNREADABLE as error:
            facts.errors[ERROR_AUDIT] = str(error)
            self._report(entry.path, ERROR_AUDIT, str(error))
            return {}
        self._audits[entry.path] = (fingerprint, failed)
        return failed

    def _report(self, path: str, kind: str, error: str) -> None:
        """Log an unreadable file once, not on every scrape."""
        if (path, kind) in self._reported:
            return
        self._reported.add((path, kind))
        logs.emit("exporter_read_error", level=logging.WARNING, path=path, kind=kind, error=error[:300])


def newest_published(asset: AssetFacts) -> str | None:
    """The newest partition that has a published version."""
    published = [p for p, facts in asset.partitions.items() if p is not None and facts.published]
    return max(published) if published else None


def published_versions(scanner: LakeScanner, asset: AssetFacts) -> list[tuple[PartitionFacts, VersionFacts]]:
    """Each partition's published version with its manifest facts (unreadable ones left out)."""
    found = []
    for facts in asset.partitions.values():
        if facts.published and ERROR_POINTER not in facts.errors:
            manifest = scanner.manifest(asset.zone, asset.name, facts.partition, facts.published)
            if manifest is not None:
                found.append((facts, manifest))
    return found


def asset_label(key: Sequence[str]) -> str:
    return "/".join(key)
