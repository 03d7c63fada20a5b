"""Where things live in the lake, and the checks that run before any path is formed.

    <zone>/<asset>/date=<partition>/v=<version>/part-00000.parquet
    <zone>/<asset>/date=<partition>/v=<version>/_manifest.json     written last
    <zone>/<asset>/date=<partition>/_published.json                the pointer
    <zone>/<asset>/_index/<YYYY-MM>.json                           a month of published versions
Unpartitioned assets drop the `date=` level."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

ZONES = ("landing", "raw", "curated", "serving", "ml", "quarantine")
ASSET_ZONES = ("raw", "curated", "serving", "ml")
PARTITION_LEVEL = "date"
MANIFEST_FILE = "_manifest.json"
POINTER_FILE = "_published.json"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DATE_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_VERSION = re.compile(r"^\d{8}T\d{12}Z-[0-9a-z]{1,12}$")


class PartitionKeyError(ValueError):
    """A partition key that is not a real day, or not in the asset's partitions."""


class AssetPathError(ValueError):
    """An asset key or version id that cannot be turned into a lake path."""


def validate_partition_key(key: str, allowed: Sequence[str] | None = None) -> str:
    """Accept only `YYYY-MM-DD` keys naming a real calendar day (and a known partition).

    The key ends up as a folder name, so this runs before any path is built."""
    if not isinstance(key, str) or not _DATE_KEY.match(key):
        raise PartitionKeyError(f"partition key {key!r} is not a date of the form YYYY-MM-DD")
    try:
        date.fromisoformat(key)
    except ValueError as error:
        raise PartitionKeyError(f"partition key {key!r} is not a calendar date: {error}") from None
    if allowed is not None and key not in allowed:
        raise PartitionKeyError(f"partition key {key!r} is outside the asset's partitions")
    return key


def asset_path(asset_key: Sequence[str]) -> str:
    """`curated/flights` from `["curated", "flights"]`, refusing anything path-like."""
    parts = list(asset_key)
    if len(parts) < 2 or parts[0] not in ZONES:
        raise AssetPathError(f"asset key {parts!r} must start with a zone out of {ZONES}")
    for part in parts:
        if not _NAME.match(part):
            raise AssetPathError(f"asset key part {part!r} is not a lowercase identifier")
    return "/".join(parts)


def partition_path(asset_key: Sequence[str], partition: str | None) -> str:
    base = asset_path(asset_key)
    if partition is None:
        return base
    return f"{base}/{PARTITION_LEVEL}={validate_partition_key(partition)}"


def is_version_id(version: object) -> bool:
    return isinstance(version, str) and bool(_VERSION.match(version))


def validate_version_id(version: str) -> str:
    if not is_version_id(version):
        raise AssetPathError(f"{version!r} is not a version id (like 20130209T101500123456Z-1a2b3c4d)")
    return version


def version_path(asset_key: Sequence[str], partition: str | None, version: str) -> str:
    return f"{partition_path(asset_key, partition)}/v={validate_version_id(version)}"


def pointer_path(asset_key: Sequence[str], partition: str | None) -> str:
    return f"{partition_path(asset_key, partition)}/{POINTER_FILE}"


def new_version_id(run_id: str, now: datetime | None = None) -> str:
    """A version id that sorts by write time and names the run that wrote it."""
    now = now or datetime.now(UTC)
    run_part = re.sub(r"[^0-9a-z]", "", run_id.lower())[:8] or "manual"
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S%f}Z-{run_part}"


def version_time(version: str) -> datetime:
    return datetime.strptime(version.split("-")[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,200}$")


def check_file_name(name: str) -> str:
    if not _FILE_NAME.match(name) or ".." in name or name.startswith("_"):
        raise AssetPathError(f"{name!r} is not a safe data file name")
    return name
