"""Finding what landed since the last look, without re-reading the whole landing area.

The cursor keeps, per daily dataset, a high-water mark (the newest landed day) and a
fingerprint and checksum for each file in a look-back window behind it. A tick lists
only keys after `hwm - lookback_days`: on S3 with `ListObjectsV2(StartAfter=...)`,
which returns just those keys however many years have landed; locally by reading
one directory. So the cost of a tick is bounded by the window, not the history.

Why a day-key high-water mark rather than modification times: landing keys sort by
day, which S3 can seek to, while "modified after T" cannot be asked of S3 at all
(it would need the full listing). The look-back window catches the usual
correction, a re-export of the last few days; a correction to an older day is
outside it and is re-ingested by hand (`platform land`, then launch the partition).

Change detection is two-step: a cheap fingerprint (S3 ETag, or local size and
mtime) says "maybe changed"; the content checksum (the ETag, which is the MD5 of a
single-part upload, or a local SHA-256) decides. Re-landing identical bytes moves
the fingerprint but not the checksum, so nothing is ingested twice.

Every entry a tick lists is sorted into one of three: a complete landing file
(ingested when new or changed), a pending one (not complete yet under its dataset's
completion rule, see `landing_rules.py`), or a rejection (anything else, links
included: the sensor moves it to `landing/_rejected/`, see `landing_rejects.py`).
Misnamed files sorting before the window would never be listed by a windowed S3
listing, so each dataset folder is also listed whole every `sweep_interval_minutes`;
a local folder is read whole every tick anyway (one directory read)."""

from __future__ import annotations

import hashlib
import json
import posixpath
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

import dagster as dg

from platform_assets.automation.config import AutomationSettings
from platform_assets.automation.landing_rules import CompletionRule, day_file_problem, is_temporary
from platform_assets.lake import local_fs
from platform_assets.lake.landing import LANDING_ZONE, REJECTED_FOLDER, TOP_LEVEL, landing_path
from platform_assets.lake.raw_assets import LANDING_DATASET_METADATA, LANDING_EXT_METADATA
from platform_assets.lake.storage import LakeStorage
from platform_assets.settings import Settings

CURSOR_FORMAT = 1
MAX_STRAYS_REMEMBERED = 100


@dataclass(frozen=True)
class LandingDataset:
    """A source dataset the platform watches, and the raw asset that copies it."""

    name: str
    ext: str
    asset_key: dg.AssetKey
    partitions_def: dg.PartitionsDefinition | None

    @property
    def folder(self) -> str:
        return f"{LANDING_ZONE}/{self.name}"


def landing_datasets(assets: Iterable[dg.AssetsDefinition | Any]) -> list[LandingDataset]:
    """Every raw asset that declares the landing file it copies (see `raw_file_asset`)."""
    found = []
    for asset in assets:
        if not isinstance(asset, dg.AssetsDefinition):
            continue
        for spec in asset.specs:
            metadata = spec.metadata or {}
            if LANDING_DATASET_METADATA in metadata:
                found.append(
                    LandingDataset(
                        name=str(metadata[LANDING_DATASET_METADATA]),
                        ext=str(metadata.get(LANDING_EXT_METADATA, "csv")),
                        asset_key=spec.key,
                        partitions_def=spec.partitions_def,
                    )
                )
    return sorted(found, key=lambda d: d.name)


@dataclass(frozen=True)
class ListedFile:
    """One entry of a landing listing, seen without following it."""

    path: str  # lake-relative
    fingerprint: str
    etag: str | None = None
    kind: str = "file"  # "file", "link", "folder" or "other" (local fifos, sockets)
    mtime_s: float | None = None
    target: str | None = None  # where a link points


@dataclass(frozen=True)
class LandedChange:
    """A file whose content the raw zone has not copied yet."""

    dataset: LandingDataset
    partition: str | None
    path: str
    checksum: str
    previous_checksum: str | None

    @property
    def identity(self) -> str:
        """Path and content, plus the content it replaces, so A -> B -> A ingests A again."""
        return f"{self.path}@{self.checksum}<{self.previous_checksum or '-'}"


@dataclass(frozen=True)
class Rejection:
    """A landing entry the platform will not ingest, and why; it goes to `_rejected/<dataset>/`."""

    path: str
    dataset: str
    reason: str
    target: str | None = None


@dataclass(frozen=True)
class Pending:
    """A landing file that is not complete yet: neither ingested nor rejected."""

    path: str
    reason: str


@dataclass
class LandingCursor:
    """Per dataset: the newest landed day, {file name: [fingerprint, checksum]}, files
    waiting for a second identical look ({name: fingerprint}, the `stable` rule), when
    the folder was last listed whole (S3), and rejected paths already alerted about
    that could not be moved away (so they are alerted once, not every tick)."""

    high_water: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    unmovable: dict[str, list[str]] = field(default_factory=dict)
    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    swept: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> LandingCursor:
        try:
            data = json.loads(text) if text else {}
        except json.JSONDecodeError:
            data = {}
        if data.get("format") != CURSOR_FORMAT:
            # A missing or unreadable cursor starts over: everything landed is listed and
            # ingested again as new versions with identical content (idempotent, not free).
            return cls()
        return cls(
            high_water=dict(data.get("high_water", {})),
            files=dict(data.get("files", {})),
            unmovable=dict(data.get("unmovable", {})),
            pending=dict(data.get("pending", {})),
            swept=dict(data.get("swept", {})),
        )

    def dumps(self) -> str:
        body = {
            "format": CURSOR_FORMAT,
            "high_water": self.high_water,
            "files": self.files,
            "unmovable": self.unmovable,
            "pending": self.pending,
            "swept": self.swept,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=8)
def _s3_client(endpoint_url: str | None, region: str, attempts: int) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": attempts, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


class LandingArea:
    """Listings of `landing/` with fingerprints, through the lake's own storage.

    S3 listings go through boto3 because pyarrow's filesystem cannot start a listing
    after a key and does not return ETags; everything else uses `LakeStorage`."""

    def __init__(self, storage: LakeStorage, settings: Settings) -> None:
        self.storage = storage
        self.settings = settings

    def _s3(self) -> tuple[Any, str, str]:
        parsed = urlparse(self.storage.url)
        prefix = parsed.path.strip("/")
        settings = self.settings
        client = _s3_client(settings.s3_endpoint_url, settings.s3_region, settings.storage_retries)
        return client, parsed.netloc, f"{prefix}/" if prefix else ""

    def list_folder(self, folder: str, start_after: str | None) -> list[ListedFile]:
        """Entries directly in `folder` (files, links, folders) whose path sorts after `start_after`.

        Locally the whole folder is read (one directory read, links not followed) and
        filtered here; on S3 the listing starts after `start_after`."""
        if self.storage.is_local:
            listed = []
            for entry in local_fs.entries(self.storage.root, folder):
                if start_after is None or entry.rel > start_after:
                    fingerprint = f"{entry.size}:{entry.mtime_ns}"
                    listed.append(
                        ListedFile(
                            entry.rel, fingerprint, None, entry.kind, entry.mtime_ns / 1e9, entry.target
                        )
                    )
            return sorted(listed, key=lambda f: f.path)
        client, bucket, prefix = self._s3()
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{prefix}{folder}/", "Delimiter": "/"}
        if start_after:
            kwargs["StartAfter"] = f"{prefix}{start_after}"
        listed = []
        for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
            for item in page.get("Contents", []):
                etag = item["ETag"].strip('"')
                modified = item["LastModified"].timestamp()
                listed.append(ListedFile(item["Key"][len(prefix) :], f"etag:{etag}", etag, mtime_s=modified))
            for common in page.get("CommonPrefixes", []):
                path = common["Prefix"][len(prefix) :].rstrip("/")
                listed.append(ListedFile(path, "", kind="folder"))
        return sorted(listed, key=lambda f: f.path)

    def checksum(self, listed: ListedFile) -> str:
        """The content's identity: the S3 ETag, or the SHA-256 of a local file."""
        if listed.etag:
            return f"etag:{listed.etag}"
        return f"sha256:{hashlib.sha256(self.storage.read_bytes(listed.path)).hexdigest()}"


@dataclass
class ScanResult:
    changes: list[LandedChange]
    cursor: LandingCursor
    rejected: list[Rejection] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)


@dataclass
class _Folder:
    """One landing folder sorted into what it holds."""

    candidates: dict[str, tuple[LandingDataset, str | None, ListedFile]] = field(default_factory=dict)
    markers: dict[str, ListedFile] = field(default_factory=dict)


def _sort_folder(
    entries: Iterable[ListedFile],
    identify: Callable[[str], tuple[LandingDataset, str | None] | str],
    marker_rules: Sequence[CompletionRule],
    reject_as: str,
    stale_s: float,
    now: float,
    result: ScanResult,
) -> _Folder:
    """Landing files (with their day), markers, pending temporaries and rejections of one folder."""
    folder = _Folder()
    for entry in entries:
        name = posixpath.basename(entry.path)
        if entry.kind == "link":
            reason = f"a symbolic link to {entry.target}; the lake never follows links"
            result.rejected.append(Rejection(entry.path, reject_as, reason, entry.target))
            continue
        if entry.kind != "file":
            reason = f"a {entry.kind}, not a file: landing files sit directly in landing/<dataset>/"
            result.rejected.append(Rejection(entry.path, reject_as, reason))
            continue
        if is_temporary(name):
            age = now - (entry.mtime_s if entry.mtime_s is not None else now)
            if age < stale_s:
                result.pending.append(Pending(entry.path, "a temporary name: a write in progress"))
            else:
                reason = f"a temporary name unchanged for {age / 60:.0f} min: an abandoned write"
                result.rejected.append(Rejection(entry.path, reject_as, reason))
            continue
        found = identify(name)
        if not isinstance(found, str):
            folder.candidates[name] = (found[0], found[1], entry)
            continue
        marked = [base for rule in marker_rules if (base := rule.marker_of(name)) is not None]
        if any(not isinstance(identify(base), str) for base in marked):
            folder.markers[name] = entry
            continue
        result.rejected.append(Rejection(entry.path, reject_as, found))
    return folder


def _completion_problem(
    rule: CompletionRule, name: str, listed: ListedFile, folder: _Folder, waiting: dict[str, str]
) -> str | None:
    """Why the file is not complete yet under its dataset's rule, or None when it is."""
    if rule.rule == "marker":
        marker = folder.markers.get(f"{name}{rule.marker_suffix}")
        if marker is None:
            return f"waiting for its marker {name}{rule.marker_suffix}"
        if (marker.mtime_s or 0) < (listed.mtime_s or 0):
            return f"changed after its marker {name}{rule.marker_suffix}; waiting for a new marker"
        return None
    if rule.rule == "stable" and waiting.get(name) != listed.fingerprint:
        return "size or modification time changed since the last tick (completion rule: stable)"
    return None


def scan_landing(
    area: LandingArea,
    datasets: Sequence[LandingDataset],
    cursor: LandingCursor,
    settings: AutomationSettings,
    now: float | None = None,
) -> ScanResult:
    """New or changed complete landed files since `cursor`, pending and rejected entries, and
    the cursor to store after them."""
    now = time.time() if now is None else now
    stale_s = settings.stale_temporary_minutes * 60
    result = ScanResult([], LandingCursor(high_water=dict(cursor.high_water), swept=dict(cursor.swept)))
    daily = {d.name: d for d in datasets if d.partitions_def is not None}
    reference = {
        posixpath.basename(landing_path(d.name, None, d.ext)): d for d in datasets if d not in daily.values()
    }

    def identify_reference(name: str) -> tuple[LandingDataset, None] | str:
        if name in reference:
            return reference[name], None
        return (
            f"not a landing file of a known dataset (reference tables: {', '.join(sorted(reference)) or '-'})"
        )

    top: list[ListedFile] = []
    for entry in area.list_folder(LANDING_ZONE, None):
        name = posixpath.basename(entry.path)
        if name == REJECTED_FOLDER or (name in daily and entry.kind == "folder"):
            continue
        if entry.kind == "folder":
            reason = f"no dataset named {name!r} lands here (datasets: {', '.join(sorted(daily)) or '-'})"
            for inner in area.list_folder(entry.path, None):
                result.rejected.append(Rejection(inner.path, name, reason, inner.target))
            continue
        top.append(entry)
    rules = [settings.completion_for(d.name) for d in reference.values()]
    folders = [(_sort_folder(top, identify_reference, rules, TOP_LEVEL, stale_s, now, result), None)]
    for dataset in daily.values():
        folders.append((_list_daily(area, dataset, cursor, settings, now, stale_s, result), dataset))

    for folder, dataset in folders:
        for name, (found, partition, listed) in sorted(folder.candidates.items()):
            _consider(area, found, partition, name, listed, folder, cursor, settings, result)
        if dataset is not None:
            kept = result.cursor.files.get(dataset.name, {})
            floor_high = result.cursor.high_water.get(dataset.name)
            result.cursor.files[dataset.name] = _within_window(kept, floor_high, settings.lookback_days)
    still = {r.path for r in result.rejected}  # an alerted path that is gone is forgotten
    result.cursor.unmovable = {
        k: kept for k, v in cursor.unmovable.items() if (kept := [p for p in v if p in still])
    }
    return result


def _consider(
    area: LandingArea,
    dataset: LandingDataset,
    partition: str | None,
    name: str,
    listed: ListedFile,
    folder: _Folder,
    cursor: LandingCursor,
    settings: AutomationSettings,
    result: ScanResult,
) -> None:
    """Record one landing file: unchanged, pending, or a change to ingest."""
    known = cursor.files.get(dataset.name, {})
    kept = result.cursor.files.setdefault(dataset.name, {})
    previous = known.get(name)
    if previous and previous[0] == listed.fingerprint:
        kept[name] = previous
        return
    problem = _completion_problem(
        settings.completion_for(dataset.name), name, listed, folder, cursor.pending.get(dataset.name, {})
    )
    if problem is not None:
        result.pending.append(Pending(listed.path, problem))
        result.cursor.pending.setdefault(dataset.name, {})[name] = listed.fingerprint
        if previous:
            kept[name] = previous
        return
    checksum = area.checksum(listed)
    kept[name] = [listed.fingerprint, checksum]
    if previous and previous[1] == checksum:
        return  # re-landed with identical bytes
    result.changes.append(
        LandedChange(dataset, partition, listed.path, checksum, previous[1] if previous else None)
    )


def _list_daily(
    area: LandingArea,
    dataset: LandingDataset,
    cursor: LandingCursor,
    settings: AutomationSettings,
    now: float,
    stale_s: float,
    result: ScanResult,
) -> _Folder:
    """The dataset's folder from `hwm - lookback_days` on (all of it locally, and on S3 once
    per sweep interval, so misnamed files before the window are found too)."""
    high = cursor.high_water.get(dataset.name)
    start_after = None
    if high:
        floor = date.fromisoformat(high) - timedelta(days=settings.lookback_days)
        start_after = f"{dataset.folder}/{floor.isoformat()}"  # sorts just before that day's file
    due = now - cursor.swept.get(dataset.name, float("-inf")) >= settings.sweep_interval_minutes * 60
    sweep = area.storage.is_local or start_after is None or due
    if sweep and not area.storage.is_local:  # a full listing, whatever asked for it, is a sweep
        result.cursor.swept[dataset.name] = now
    try:
        entries = area.list_folder(dataset.folder, None if sweep else start_after)
    except local_fs.LakeLinkError:
        return _Folder()  # the folder itself is a link: rejected with the top of landing/

    def identify(name: str) -> tuple[LandingDataset, str] | str:
        day, problem = day_file_problem(name, dataset.ext, dataset.partitions_def)
        return (dataset, day) if day is not None else str(problem)

    rule = settings.completion_for(dataset.name)
    folder = _sort_folder(entries, identify, [rule], dataset.name, stale_s, now, result)
    days = [str(partition) for _, partition, _ in folder.candidates.values()]
    if days:
        result.cursor.high_water[dataset.name] = max(max(days), high or "")
    if start_after is not None:  # old days are not re-read (see the module docstring)
        folder.candidates = {n: c for n, c in folder.candidates.items() if c[2].path > start_after}
    return folder


def _within_window(files: dict[str, list[str]], high: str | None, lookback_days: int) -> dict[str, list[str]]:
    """Forget files older than the look-back window: they are never listed again."""
    if high is None:
        return files
    floor = (date.fromisoformat(high) - timedelta(days=lookback_days)).isoformat()
    return {name: entry for name, entry in files.items() if name[:10] >= floor}
