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
the fingerprint but not the checksum, so nothing is ingested twice."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

import dagster as dg

from platform_assets.lake.landing import LANDING_ZONE, landing_path
from platform_assets.lake.raw_assets import LANDING_DATASET_METADATA, LANDING_EXT_METADATA
from platform_assets.lake.storage import LakeStorage
from platform_assets.settings import Settings

CURSOR_FORMAT = 1
MAX_STRAYS_REMEMBERED = 100
_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.([A-Za-z0-9]+)$")


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
    path: str  # lake-relative
    fingerprint: str
    etag: str | None = None


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


@dataclass
class LandingCursor:
    """Per dataset: the newest landed day, {file name: [fingerprint, checksum]}, and the
    stray files already reported (so a stray is warned about once, not every tick)."""

    high_water: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    strays: dict[str, list[str]] = field(default_factory=dict)

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
            strays=dict(data.get("strays", {})),
        )

    def dumps(self) -> str:
        body = {
            "format": CURSOR_FORMAT,
            "high_water": self.high_water,
            "files": self.files,
            "strays": self.strays,
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
        """Files directly in `folder` whose path sorts after `start_after`."""
        if self.storage.is_local:
            return sorted(
                (
                    ListedFile(f.path, f"{f.size}:{f.mtime_ns}")
                    for f in self.storage.list_files(folder, recursive=False)
                    if start_after is None or f.path > start_after
                ),
                key=lambda f: f.path,
            )
        client, bucket, prefix = self._s3()
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{prefix}{folder}/", "Delimiter": "/"}
        if start_after:
            kwargs["StartAfter"] = f"{prefix}{start_after}"
        listed = []
        for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
            for item in page.get("Contents", []):
                etag = item["ETag"].strip('"')
                listed.append(ListedFile(item["Key"][len(prefix) :], f"etag:{etag}", etag))
        return listed

    def stat(self, rel: str) -> ListedFile | None:
        if self.storage.is_local:
            info = self.storage.file_info(rel)
            return None if info is None else ListedFile(rel, f"{info.size}:{info.mtime_ns}")
        client, bucket, prefix = self._s3()
        page = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}{rel}", MaxKeys=1)
        for item in page.get("Contents", []):
            if item["Key"] == f"{prefix}{rel}":
                etag = item["ETag"].strip('"')
                return ListedFile(rel, f"etag:{etag}", etag)
        return None

    def checksum(self, listed: ListedFile) -> str:
        """The content's identity: the S3 ETag, or the SHA-256 of a local file."""
        if listed.etag:
            return f"etag:{listed.etag}"
        return f"sha256:{hashlib.sha256(self.storage.read_bytes(listed.path)).hexdigest()}"


def _day_of(dataset: LandingDataset, path: str) -> str | None:
    """The partition a landed file belongs to, or None for a stray file (temporary, misnamed)."""
    match = _DAY_FILE.match(posixpath.basename(path))
    if not match or match.group(2) != dataset.ext:
        return None
    day = match.group(1)
    try:
        date.fromisoformat(day)
    except ValueError:
        return None
    if dataset.partitions_def is not None and not dataset.partitions_def.has_partition_key(day):
        return None
    return day


@dataclass
class ScanResult:
    changes: list[LandedChange]
    cursor: LandingCursor
    ignored: list[str]  # stray files seen for the first time


def _list_daily(
    area: LandingArea,
    dataset: LandingDataset,
    cursor: LandingCursor,
    new: LandingCursor,
    lookback_days: int,
    ignored: list[str],
) -> dict[str, ListedFile]:
    """The dataset's day files from `hwm - lookback_days` on, by day; advances the high-water mark."""
    high = cursor.high_water.get(dataset.name)
    start_after = None
    if high:
        floor = date.fromisoformat(high) - timedelta(days=lookback_days)
        start_after = f"{dataset.folder}/{floor.isoformat()}"  # sorts just before that day's file
    reported = cursor.strays.get(dataset.name, [])
    by_day: dict[str, ListedFile] = {}
    strays = []
    for listed in area.list_folder(dataset.folder, start_after):
        day = _day_of(dataset, listed.path)
        if day is None:
            strays.append(listed.path)
            if listed.path not in reported:
                ignored.append(listed.path)
        else:
            by_day[day] = listed
    if strays:
        new.strays[dataset.name] = strays[:MAX_STRAYS_REMEMBERED]
    if by_day:
        new.high_water[dataset.name] = max(max(by_day), high or "")
    return by_day


def scan_landing(
    area: LandingArea,
    datasets: Sequence[LandingDataset],
    cursor: LandingCursor,
    lookback_days: int,
) -> ScanResult:
    """New or changed landed files since `cursor`, and the cursor to store after them."""
    changes: list[LandedChange] = []
    ignored: list[str] = []
    new = LandingCursor(high_water=dict(cursor.high_water), files={}, strays={})
    for dataset in datasets:
        if dataset.partitions_def is None:
            found = area.stat(landing_path(dataset.name, None, dataset.ext))
            listed: dict[str | None, ListedFile] = {None: found} if found else {}
        else:
            listed = dict(_list_daily(area, dataset, cursor, new, lookback_days, ignored))
        known = cursor.files.get(dataset.name, {})
        kept: dict[str, list[str]] = {}
        for partition, landed in listed.items():
            name = posixpath.basename(landed.path)
            previous = known.get(name)
            if previous and previous[0] == landed.fingerprint:
                kept[name] = previous
                continue
            checksum = area.checksum(landed)
            kept[name] = [landed.fingerprint, checksum]
            if previous and previous[1] == checksum:
                continue  # re-landed with identical bytes
            changes.append(
                LandedChange(dataset, partition, landed.path, checksum, previous[1] if previous else None)
            )
        new.files[dataset.name] = _within_window(kept, new.high_water.get(dataset.name), lookback_days)
    return ScanResult(changes, new, ignored)


def _within_window(files: dict[str, list[str]], high: str | None, lookback_days: int) -> dict[str, list[str]]:
    """Forget files older than the look-back window: they are never listed again."""
    if high is None:
        return files
    floor = (date.fromisoformat(high) - timedelta(days=lookback_days)).isoformat()
    return {name: entry for name, entry in files.items() if name[:10] >= floor}
