"""Retention: what the lake keeps, and the plan of what garbage collection may delete.

Keep rules (a version is never deleted when any holds):
  - a pointer names it (it is what readers see);
  - a pointer published it within the rollback window (a rollback may return to it);
  - a published downstream version names it as an upstream (its provenance stays readable);
  - its newest file or its version id is younger than the in-flight grace (a write may be running);
  - it is one of the newest `keep_versions` superseded versions of its partition, or younger
    than `keep_days` (per zone, retention.toml).
Deletable: version folders without a manifest older than the interrupted grace, superseded
versions beyond retention, quarantine older than its classification's retention, canary
output older than its expiry, landed files older than the landing retention whose bytes
the published raw version holds.

This module only plans (reads listings, pointers and manifests); `maintenance.gc` is the
one place that deletes, and it re-checks these rules for each item at deletion time."""

from __future__ import annotations

import json
import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from platform_assets.governance.classification import Classification, record_of, unlabelled_level
from platform_assets.lake import history, layout
from platform_assets.lake.storage import LakeFile, LakeIntegrityError, LakeStorage

CANARY_ROOT = "canary"
REJECTED_LANDING = "_rejected"
KIND_INTERRUPTED = "interrupted"
KIND_SUPERSEDED = "superseded"
KIND_QUARANTINE = "quarantine"
KIND_CANARY = "canary"
KIND_LANDING = "landing"
_SECTIONS = {"grace", "rollback", "superseded", "quarantine_days", "landing", "canary", "lifecycle"}


class RetentionConfigError(ValueError):
    """retention.toml is missing a key, names an unknown one, or holds a bad value."""


@dataclass(frozen=True)
class Superseded:
    keep_versions: int
    keep_for: timedelta


@dataclass(frozen=True)
class RetentionPolicy:
    in_flight_grace: timedelta
    interrupted_grace: timedelta
    rollback_window: timedelta
    superseded: Mapping[str, Superseded]
    quarantine: Mapping[Classification, timedelta]
    landing_ingested: timedelta
    canary_expiry: timedelta
    lifecycle: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> RetentionPolicy:
        """The policy in `path`, else the packaged retention.toml; every key checked."""
        if path is None:
            text = resources.files("platform_assets.maintenance").joinpath("retention.toml").read_text()
            where = "retention.toml"
        else:
            text, where = Path(path).read_text(), str(path)
        try:
            return cls.from_mapping(tomllib.loads(text))
        except tomllib.TOMLDecodeError as error:
            raise RetentionConfigError(f"{where}: {error}") from None
        except RetentionConfigError as error:
            raise RetentionConfigError(f"{where}: {error}") from None

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> RetentionPolicy:
        unknown = set(config) - _SECTIONS
        if unknown:
            raise RetentionConfigError(f"unknown section(s) {sorted(unknown)}")
        zones = _section(config, "superseded", set(layout.ASSET_ZONES))
        superseded = {
            zone: Superseded(
                _count(
                    _section(zones, zone, {"keep_versions", "keep_days"}, "superseded"),
                    "keep_versions",
                    f"superseded.{zone}",
                ),
                timedelta(days=_number(zones[zone], "keep_days", f"superseded.{zone}")),
            )
            for zone in layout.ASSET_ZONES
        }
        levels = _section(config, "quarantine_days", {c.label for c in Classification})
        grace = _section(config, "grace", {"in_flight_hours", "interrupted_hours"})
        in_flight = timedelta(hours=_number(grace, "in_flight_hours", "grace"))
        interrupted = timedelta(hours=_number(grace, "interrupted_hours", "grace"))
        if interrupted < in_flight:
            raise RetentionConfigError("grace.interrupted_hours must be at least grace.in_flight_hours")
        return cls(
            in_flight_grace=in_flight,
            interrupted_grace=interrupted,
            rollback_window=timedelta(
                days=_number(_section(config, "rollback", {"window_days"}), "window_days", "rollback")
            ),
            superseded=superseded,
            quarantine={
                c: timedelta(days=_number(levels, c.label, "quarantine_days")) for c in Classification
            },
            landing_ingested=timedelta(
                days=_number(_section(config, "landing", {"ingested_days"}), "ingested_days", "landing")
            ),
            canary_expiry=timedelta(
                days=_number(_section(config, "canary", {"expiry_days"}), "expiry_days", "canary")
            ),
            lifecycle=dict(config.get("lifecycle", {})),
        )


def _section(config: Mapping[str, Any], name: str, keys: set[str], parent: str = "") -> Mapping[str, Any]:
    value = config.get(name)
    where = f"{parent}.{name}" if parent else name
    if not isinstance(value, Mapping):
        raise RetentionConfigError(f"missing section [{where}]")
    missing, unknown = keys - set(value), set(value) - keys
    if missing or unknown:
        raise RetentionConfigError(f"[{where}]: missing {sorted(missing)}, unknown {sorted(unknown)}")
    return value


def _number(section: Mapping[str, Any], key: str, where: str) -> float:
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RetentionConfigError(f"{where}.{key} = {value!r} is not a non-negative number")
    return float(value)


def _count(section: Mapping[str, Any], key: str, where: str) -> int:
    value = _number(section, key, where)
    if value != int(value):
        raise RetentionConfigError(f"{where}.{key} = {value!r} is not a whole number")
    return int(value)


@dataclass(frozen=True)
class Candidate:
    """Something garbage collection may delete, and why."""

    kind: str
    path: str  # lake-relative folder (versions, canaries) or file (landing)
    files: tuple[LakeFile, ...]
    reason: str
    asset_key: tuple[str, ...] | None = None
    partition: str | None = None
    version: str | None = None
    classification: str | None = None  # quarantine: the level its retention follows

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class VersionFolder:
    path: str
    files: list[LakeFile] = field(default_factory=list)

    @property
    def has_manifest(self) -> bool:
        return any(f.path.endswith(f"/{layout.MANIFEST_FILE}") for f in self.files)


def activity(version: str | None, files: Sequence[LakeFile]) -> datetime:
    """When something last happened to an item: its version id's time or its newest file."""
    moments = [datetime.fromtimestamp(f.mtime_ns / 1e9, UTC) for f in files if f.mtime_ns]
    if version is not None:
        try:
            moments.append(layout.version_time(version))
        except ValueError:
            pass
    return max(moments, default=datetime.now(UTC))


@dataclass
class AssetListing:
    """One asset's version folders and pointer files, from one recursive listing."""

    asset_key: tuple[str, ...]
    versions: dict[tuple[str | None, str], VersionFolder] = field(default_factory=dict)
    pointers: dict[str | None, str] = field(default_factory=dict)


def list_asset(storage: LakeStorage, asset_key: Sequence[str]) -> AssetListing:
    base = layout.asset_path(asset_key)
    listing = AssetListing(tuple(asset_key))
    for item in storage.list_files(base):
        parts = item.path[len(base) + 1 :].split("/")
        partition = None
        if parts[0].startswith(f"{layout.PARTITION_LEVEL}="):
            partition, parts = parts[0].split("=", 1)[1], parts[1:]
        if parts == [layout.POINTER_FILE]:
            listing.pointers[partition] = item.path
        elif len(parts) >= 2 and parts[0].startswith("v="):
            version = parts[0][2:]
            folder_path = (
                f"{layout.partition_path(asset_key, partition)}/{parts[0]}" if _valid(version) else None
            )
            if folder_path is None:
                continue  # not a version folder of ours: never touched
            folder = listing.versions.setdefault((partition, version), VersionFolder(folder_path))
            folder.files.append(item)
    return listing


def _valid(version: str) -> bool:
    try:
        layout.validate_version_id(version)
    except layout.AssetPathError:
        return False
    return True


def asset_keys(storage: LakeStorage, zones: Sequence[str]) -> list[tuple[str, str]]:
    found = []
    for zone in zones:
        for name in storage.list_names(zone):
            try:
                layout.asset_path([zone, name])
            except layout.AssetPathError:
                continue
            found.append((zone, name))
    return found


class UnreadableMetadata(RuntimeError):
    """A pointer or manifest that exists but cannot be read as JSON: what it protects is unknown."""


def read_json(storage: LakeStorage, rel: str) -> dict[str, Any] | None:
    """The object as JSON; None when it does not exist; `UnreadableMetadata` when it is damaged."""
    try:
        return json.loads(storage.read_bytes(rel))
    except FileNotFoundError:
        return None
    except (ValueError, LakeIntegrityError) as error:
        raise UnreadableMetadata(f"{storage.uri(rel)}: {error}") from None


def window_versions(pointer: Mapping[str, Any] | None, window_start: datetime) -> set[str]:
    """The published version and every version the pointer published since `window_start`."""
    if not pointer:
        return set()
    kept = {pointer["version"]}
    for entry in pointer.get("history", []):
        if history.parse_time(entry["at"]) >= window_start:
            kept.add(entry["version"])
    return kept


Ref = tuple[str, str | None, str]  # (asset "zone/name", partition, version)
Slot = tuple[str, str | None]  # (asset "zone/name", partition)


@dataclass
class Protection:
    """Upstream versions named by published manifests, and which downstream slot names each.

    `refresh_for` re-reads the pointers of the downstream slots that read an upstream
    slot, so a deletion is judged against what is published at that moment. A downstream
    partition first published after the scan read upstream versions that were published
    then: those are protected by their own pointer or the rollback window."""

    refs: set[Ref] = field(default_factory=set)
    consumers: dict[Slot, set[Slot]] = field(default_factory=lambda: defaultdict(set))
    seen: dict[Slot, str | None] = field(default_factory=dict)

    def add_published(self, slot: Slot, manifest: Mapping[str, Any] | None) -> None:
        self.seen[slot] = manifest["version"] if manifest else None
        for entry in (manifest or {}).get("upstream") or []:
            self.refs.add((entry["asset"], entry["partition"], entry["version"]))
            self.consumers[(entry["asset"], entry["partition"])].add(slot)

    def refresh_for(self, storage: LakeStorage, upstream: Slot) -> None:
        for asset, partition in sorted(self.consumers.get(upstream, set()), key=str):
            key = asset.split("/")
            pointer = read_json(storage, layout.pointer_path(key, partition))
            version = pointer["version"] if pointer else None
            if version is not None and version != self.seen.get((asset, partition)):
                manifest = read_json(
                    storage, f"{layout.version_path(key, partition, version)}/{layout.MANIFEST_FILE}"
                )
                self.add_published((asset, partition), manifest)

    def names(self, ref: Ref) -> bool:
        return ref in self.refs


@dataclass
class LakeScan:
    listings: dict[tuple[str, ...], AssetListing]
    pointers: dict[Slot, dict[str, Any] | None]
    published: dict[Slot, dict[str, Any] | None]
    protection: Protection
    # Damaged pointers or manifests: while any exists, no complete version is deleted,
    # because what they publish or name as upstream cannot be known.
    problems: list[str] = field(default_factory=list)


def scan(storage: LakeStorage) -> LakeScan:
    """Every asset's versions, every pointer and every published manifest, read concurrently."""
    keys = asset_keys(storage, layout.ASSET_ZONES)
    listings = dict(zip(keys, history.parallel_map(lambda k: list_asset(storage, k), keys), strict=True))
    slots = [
        ("/".join(k), p, path) for k, listing in listings.items() for p, path in listing.pointers.items()
    ]
    problems: list[str] = []

    def tolerant(rel: str) -> dict[str, Any] | None:
        try:
            return read_json(storage, rel)
        except UnreadableMetadata as error:
            problems.append(str(error))
            return None

    pointers = history.parallel_map(lambda s: tolerant(s[2]), slots)

    def manifest(item: tuple[tuple[str, str | None, str], dict[str, Any] | None]) -> dict[str, Any] | None:
        (asset, partition, _), pointer = item
        if not pointer:
            return None
        path = (
            f"{layout.version_path(asset.split('/'), partition, pointer['version'])}/{layout.MANIFEST_FILE}"
        )
        return tolerant(path)

    manifests = history.parallel_map(manifest, list(zip(slots, pointers, strict=True)))
    protection = Protection()
    for (asset, partition, _), published in zip(slots, manifests, strict=True):
        protection.add_published((asset, partition), published)
    return LakeScan(
        listings=listings,
        pointers={(a, p): ptr for (a, p, _), ptr in zip(slots, pointers, strict=True)},
        published={(a, p): m for (a, p, _), m in zip(slots, manifests, strict=True)},
        protection=protection,
        problems=sorted(problems),
    )


def quarantine_level(
    storage: LakeStorage, lake: LakeScan, manifest: Mapping[str, Any] | None
) -> Classification:
    """The classification of the asset a quarantine version was cut from.

    The source version's manifest records it; failing that, the partition's published one;
    failing both (versions written before classification existed), the unlabelled level."""
    if not manifest or not manifest.get("rejected_from"):
        return unlabelled_level()
    source, partition, version = manifest["rejected_from"], manifest["partition"], manifest["version"]
    slot = ("/".join(source), partition)
    for candidate in (
        read_json(storage, f"{layout.version_path(source, partition, version)}/{layout.MANIFEST_FILE}"),
        lake.published.get(slot),
    ):
        record = record_of(candidate) if candidate else None
        if record:
            return Classification.parse(record["asset"])
    return unlabelled_level()


def is_ingested(lake: LakeScan, storage: LakeStorage, item: LakeFile) -> bool:
    """Whether the published raw version holds exactly this landed file (same URI and size,
    copied after it last changed)."""
    parts = item.path.split("/")
    if len(parts) == 2:
        dataset, partition = parts[1].rsplit(".", 1)[0], None
    elif len(parts) == 3:
        dataset, partition = parts[1], parts[2].rsplit(".", 1)[0]
    else:
        return False
    manifest = lake.published.get((f"raw/{dataset}", partition))
    if (
        not manifest
        or manifest.get("source_uri") != storage.uri(item.path)
        or manifest.get("bytes") != item.size
    ):
        return False
    # Manifests record time to the millisecond: a file landed in the same millisecond as its
    # copy counts as copied (an mtime with nanoseconds would otherwise look newer).
    copied = history.parse_time(manifest["created_at"]) + timedelta(milliseconds=1)
    return item.mtime_ns is None or datetime.fromtimestamp(item.mtime_ns / 1e9, UTC) <= copied
