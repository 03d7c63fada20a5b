"""The per-asset index of published versions: a reader plans a year in a few requests.

    <zone>/<asset>/_index/<YYYY-MM>.json   one shard per month of daily partitions

Each shard maps a partition to what a reader needs to plan a scan of its published
version (version, the pointer's `sequence`, data files with sizes and rows, content
hash, schema and classification by reference), so a year costs twelve reads instead
of a pointer and a manifest per partition, and a publish rewrites at most a month's
entries (a year-long shard made each publish of a backfill rewrite ~100 KB).
Unpartitioned assets have no index.

The pointer stays the truth. `VersionStore.publish` records the entry after the
pointer's compare-and-swap (inside `VersionStore.index_batch`, as an audit publishes,
when the batch ends: one write per shard), itself by compare-and-swap (never replacing
an entry with one of a lower sequence), together with the token (S3 ETag, or SHA-256 of
a local file) of the pointer it wrote and of the manifest it published. A reader trusts an
entry only when one listing of the partitions it reads shows that same pointer and
manifest (`confirm`): a pointer moved since (a publish that died before its index
write, an edit outside `publish`) or damaged has another token, and a pointer the
index does not name at all shows in the listing; either way that partition is read
from its pointer, as before the index. So the index may lag, but is never trusted
stale, and a lake older than the index simply reads the old way. The next publish of
a partition, or `repair` (`platform verify --repair-index`), brings its entry up."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from platform_assets import logs
from platform_assets.lake import layout
from platform_assets.lake.storage import (
    CAS_ATTEMPTS,
    LakeIntegrityError,
    LakeStorage,
    PreconditionFailed,
    cas_backoff,
)

if TYPE_CHECKING:
    from platform_assets.lake.versions import VersionStore

INDEX_FOLDER = "_index"
INDEX_FORMAT = 1
# Manifest fields a reader needs that are the same for most partitions: kept once per
# shard ("shapes") and referenced by hash from each entry.
_SHAPE_FIELDS = ("kind", "schema_hash", "arrow_schema", "schema", "platform/classification", "classification")


class IndexWriteError(RuntimeError):
    """The index could not be brought up to date (the pointers are unaffected)."""


def shard_of(partition: str) -> str:
    return layout.validate_partition_key(partition)[:7]


def shards_for(partitions: Iterable[str]) -> list[str]:
    return sorted({shard_of(p) for p in partitions})


def shard_path(asset_key: Sequence[str], shard: str) -> str:
    return f"{layout.asset_path(asset_key)}/{INDEX_FOLDER}/{shard}.json"


def is_index_path(rel: str) -> bool:
    """Whether a lake-relative path is an index shard (walkers of version folders skip these)."""
    parts = rel.split("/")
    return len(parts) >= 2 and parts[-2] == INDEX_FOLDER and parts[-1].endswith(".json")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _valid_shard(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("format") == INDEX_FORMAT
        and all(isinstance(value.get(k), dict) for k in ("partitions", "shapes"))
    )


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if _valid_shard(value) else None


def read_shard(storage: LakeStorage, asset_key: Sequence[str], shard: str) -> dict[str, Any] | None:
    """The shard as readers use it; None when there is none or it cannot be parsed (the
    month is then read the old way; the next publish into it rewrites the shard)."""
    found = storage.read_object(shard_path(asset_key, shard))
    if found is None:
        return None
    value = _parse(found[0])
    if value is None:
        logs.emit(
            "index_unreadable",
            level=logging.WARNING,
            path=storage.uri(shard_path(asset_key, shard)),
            note="read the old way; `platform verify --repair-index` rebuilds it",
        )
    return value


def entry_from(
    manifest: dict[str, Any], pointer: dict[str, Any], pointer_token: str, manifest_token: str
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(index entry, shape id, shape) of a published version, from its manifest and pointer."""
    shape = {name: manifest[name] for name in _SHAPE_FIELDS if name in manifest}
    shape_id = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
    entry = {
        "version": pointer["version"],
        "sequence": int(pointer.get("sequence", len(pointer.get("history", [])))),
        "content_hash": manifest.get("content_hash"),
        "shape": shape_id,
        "files": [[f["name"], f["bytes"], f.get("rows")] for f in manifest["files"]],
        "pointer_token": pointer_token,
        "manifest_token": manifest_token,
    }
    return entry, shape_id, shape


def planning_manifest(
    storage: LakeStorage, asset_key: Sequence[str], partition: str, shard: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The manifest fields a reader plans with, from the shard; None if it has no usable entry."""
    entry = (shard or {}).get("partitions", {}).get(partition)
    shape = None if entry is None else shard["shapes"].get(entry.get("shape"))  # type: ignore[index]
    if entry is None or shape is None:
        return None
    prefix = layout.version_path(asset_key, partition, entry["version"])
    return {
        **shape,
        "asset_key": list(asset_key),
        "partition": partition,
        "version": entry["version"],
        "content_hash": entry.get("content_hash"),
        "files": [{"name": n, "bytes": b, "rows": r} for n, b, r in entry["files"]],
        "uri": storage.uri(prefix),
        "manifest_uri": storage.uri(f"{prefix}/{layout.MANIFEST_FILE}"),
        "from_index": (entry["pointer_token"], entry["manifest_token"]),
    }


# Reading: confirming entries against the lake


def pointer_rel(asset_key: Sequence[str], partition: str) -> str:
    return layout.pointer_path(asset_key, partition)


def manifest_rel(asset_key: Sequence[str], partition: str, version: str) -> str:
    return f"{layout.version_path(asset_key, partition, version)}/{layout.MANIFEST_FILE}"


def listing(
    storage: LakeStorage, asset_key: Sequence[str], partitions: Sequence[str], hashed: set[str] | None = None
) -> tuple[dict[str, int], dict[str, str]]:
    """(size, token) of every object under the given partitions, by lake-relative path.

    On S3 one `ListObjectsV2` over the longest prefix the partitions share (a page per
    1,000 objects: a day or a month is one request, a year two or three); its ETags are
    the tokens conditional writes compare. Locally a folder listing, and the tokens of
    the pointers and manifests in `hashed` (default: all) are hashed from their bytes."""
    folders = [layout.partition_path(asset_key, p) + "/" for p in partitions]
    sizes: dict[str, int] = {}
    tokens: dict[str, str] = {}
    if not folders:
        return sizes, tokens
    if storage.is_local:
        for folder in folders:
            for item in storage.list_files(folder.rstrip("/")):
                sizes[item.path] = item.size
                name = item.path.rsplit("/", 1)[-1]
                wanted = item.path in hashed if hashed is not None else True
                if wanted and name in (layout.POINTER_FILE, layout.MANIFEST_FILE):
                    found = storage.read_object(item.path)
                    if found is not None:
                        tokens[item.path] = found[1]
        return sizes, tokens
    prefix = _common_prefix(folders)
    bucket, key_prefix = storage.full_path(prefix.rstrip("/")).split("/", 1)
    key_prefix += "/" if prefix.endswith("/") else ""
    strip = len(storage.root) + 1  # "bucket/root/" -> lake-relative
    wanted = tuple(folders)
    token: str | None = None
    while True:
        request = {"Bucket": bucket, "Prefix": key_prefix, **({"ContinuationToken": token} if token else {})}
        page = storage.retrying("list", prefix, lambda r=request: storage.s3_client().list_objects_v2(**r))
        for item in page.get("Contents", []):
            rel = f"{bucket}/{item['Key']}"[strip:]
            if rel.startswith(wanted) and not rel.endswith("/"):  # not a folder marker
                sizes[rel] = int(item["Size"])
                tokens[rel] = str(item.get("ETag", ""))
        if not page.get("IsTruncated"):
            return sizes, tokens
        token = page["NextContinuationToken"]


def _common_prefix(paths: Sequence[str]) -> str:
    first, last = min(paths), max(paths)
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    return first[:size]


def confirmed(planned: dict[str, Any], tokens: dict[str, str]) -> bool:
    """Whether the listing shows the very pointer and manifest the entry was recorded with."""
    key, partition = planned["asset_key"], planned["partition"]
    pointer_token, manifest_token = planned["from_index"]
    return (
        tokens.get(pointer_rel(key, partition)) == pointer_token
        and tokens.get(manifest_rel(key, partition, planned["version"])) == manifest_token
    )


# Writing


def _update(
    storage: LakeStorage, asset_key: Sequence[str], shard: str, change: Callable[[dict[str, Any]], bool]
) -> None:
    """Apply `change` to the shard by compare-and-swap (an unreadable shard starts afresh:
    entries are only ever a shortcut to what the pointers say). `change` returns whether
    it changed anything."""
    rel = shard_path(asset_key, shard)
    for attempt in range(CAS_ATTEMPTS):
        found = storage.read_object(rel)
        data = _parse(found[0]) if found is not None else None
        if data is None:
            data = {
                "format": INDEX_FORMAT,
                "asset_key": list(asset_key),
                "shard": shard,
                "partitions": {},
                "shapes": {},
            }
        if not change(data) and found is not None and _parse(found[0]) is not None:
            return
        used = {e["shape"] for e in data["partitions"].values()}
        data["shapes"] = {k: v for k, v in data["shapes"].items() if k in used}
        data["updated_at"] = _now()
        body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        try:
            storage.write_object_if(rel, body, expected=found[1] if found is not None else None)
            return
        except PreconditionFailed:
            cas_backoff(attempt)
    raise IndexWriteError(
        f"{storage.uri(rel)}: gave up after {CAS_ATTEMPTS} attempts; other writers kept changing it"
    )


def _settle(
    data: dict[str, Any], partition: str, entry: dict[str, Any], shape_id: str, shape: dict[str, Any]
) -> bool:
    current = data["partitions"].get(partition)
    if current is not None and current["sequence"] > entry["sequence"]:
        return False
    if current == entry:
        return False
    data["partitions"][partition] = entry
    data["shapes"][shape_id] = shape
    return True


Record = tuple[Sequence[str], str, dict[str, Any], dict[str, Any], tuple[str, str]]
"""(asset key, partition, manifest, pointer, (pointer token, manifest token)) of one publish."""


def _settle_all(entries: list[tuple[str, dict[str, Any], str, dict[str, Any]]], data: dict[str, Any]) -> bool:
    return any([_settle(data, *entry) for entry in entries])  # a list, not a generator: settle every one


def record_many(store: VersionStore, records: Iterable[Record]) -> None:
    """Index writes of pointers already moved: one compare-and-swap per shard touched, so
    an audit publishing a month of partitions rewrites the month's shard once, not once
    per day. A failure is logged, not raised: the pointers are published, and readers see
    the entries lag (other tokens) and read the pointers until the next publish of those
    partitions or a repair records them."""
    groups: dict[tuple[tuple[str, ...], str], list[Record]] = {}
    for one in records:
        groups.setdefault((tuple(one[0]), shard_of(one[1])), []).append(one)
    for (asset_key, shard), group in groups.items():
        try:
            entries = [
                (partition, *entry_from(manifest, pointer, *tokens))
                for _, partition, manifest, pointer, tokens in group
            ]
            _update(store.storage, asset_key, shard, partial(_settle_all, entries))
        except Exception as error:  # noqa: BLE001 - the publishes themselves succeeded
            for _, partition, _, pointer, _ in group:
                logs.emit(
                    "index_lagging",
                    level=logging.WARNING,
                    asset="/".join(asset_key),
                    partition=partition,
                    version=pointer["version"],
                    error=str(error)[:300],
                )


def published_entry(
    store: VersionStore, asset_key: Sequence[str], partition: str
) -> tuple[dict[str, Any], str, dict[str, Any]] | None:
    """The entry the partition's pointer calls for now; None when nothing is published.

    Raises `LakeIntegrityError` when the pointer or its manifest cannot be read."""
    from platform_assets.lake.versions import VersionError, check_pointer

    storage = store.storage
    rel = pointer_rel(asset_key, partition)
    found = storage.read_object(rel)
    if found is None:
        return None
    try:
        pointer = check_pointer(json.loads(found[0]), storage.uri(rel))
    except (ValueError, UnicodeDecodeError):
        raise LakeIntegrityError(f"{storage.uri(rel)} is not a readable publish pointer") from None
    try:
        manifest, manifest_token = store.manifest_and_token(asset_key, partition, pointer["version"])
    except VersionError:
        raise LakeIntegrityError(
            f"{storage.uri(rel)} publishes {pointer['version']}, which has no manifest"
        ) from None
    return entry_from(manifest, pointer, found[1], manifest_token)


def repair(store: VersionStore, asset_key: Sequence[str], *, apply: bool = True) -> list[str]:
    """Bring an asset's shards in line with its pointers; return what was (with `apply`
    False: what would be) fixed.

    An entry whose pointer moved without it (a publish that died between pointer and
    index) or names nothing published is replaced or dropped; a partition with an
    unreadable pointer or manifest loses its entry (readers meet the damage themselves)."""
    from platform_assets.lake.history import parallel_map

    partitions = store.partitions(asset_key)

    def truth(partition: str) -> Any:
        try:
            return published_entry(store, asset_key, partition)
        except (LakeIntegrityError, OSError, ValueError, KeyError) as error:
            return error

    found = dict(zip(partitions, parallel_map(truth, partitions), strict=True))
    fixed: list[str] = []
    for shard in shards_for(partitions):
        notes: list[str] = []

        def change(data: dict[str, Any], shard: str = shard, notes: list[str] = notes) -> bool:
            notes.clear()
            names = sorted({p for p in partitions if p.startswith(f"{shard}-")} | set(data["partitions"]))
            for partition in names:
                real, entry = found.get(partition), data["partitions"].get(partition)
                if isinstance(real, tuple):
                    if entry != real[0]:
                        data["partitions"][partition] = real[0]
                        data["shapes"][real[1]] = real[2]
                        was = entry and entry["version"]
                        notes.append(f"{partition}: index named {was}, the pointer {real[0]['version']}")
                elif entry is not None:
                    del data["partitions"][partition]
                    why = "nothing is published" if real is None else f"unreadable: {real}"
                    notes.append(f"{partition}: dropped entry {entry['version']} ({why})")
            return bool(notes)

        if apply:
            _update(store.storage, asset_key, shard, change)
        else:
            current = read_shard(store.storage, asset_key, shard)
            change(current or {"partitions": {}, "shapes": {}})
        where = store.storage.uri(shard_path(asset_key, shard))
        fixed.extend(f"{where}: {note}" for note in notes)
    return fixed
