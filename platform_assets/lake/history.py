"""The life of an asset partition's versions: which were audited, published, rolled back.

The pointer's `history` list (newest first) is the record of every publish and
rollback with who, when and why; this module reads it and writes rollbacks into
it. A rollback is one atomic rewrite of the pointer through `VersionStore.publish`:
no data file is read, copied or deleted, so it takes as long as two small reads
and one small write whatever the size of the data.

No Dagster import at module level: the catalog and the CLI use this without a
Dagster instance; only `report_rollback` talks to one."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from platform_assets.governance.audit_log import current_user
from platform_assets.lake import layout
from platform_assets.lake.storage import LakeIntegrityError, LakeStorage, json_bytes
from platform_assets.lake.versions import POINTER_HISTORY_LIMIT, VersionError, VersionStore, read_json

AUDIT_FILE = "_audit.json"
EVENT_PUBLISH = "publish"
EVENT_ROLLBACK = "rollback"
AUDIT_PASSED = "passed"
AUDIT_FAILED = "failed"
AUDIT_UNKNOWN = "unaudited"
STATE_PUBLISHED = "published"
STATE_SUPERSEDED = "superseded"
STATE_ROLLED_BACK = "rolled back"
STATE_UNPUBLISHED = "unpublished"
DATA_VERSION_TAG = "dagster/data_version"
READ_WORKERS = 16

T = TypeVar("T")
R = TypeVar("R")


class RollbackError(VersionError):
    """A rollback that would leave readers on a missing, failed or unchanged version."""


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int = READ_WORKERS) -> list[R]:
    """`fn` over `items` in order, concurrently: object-store reads are latency-bound, and
    reading a year of pointers one after another is what makes catalogs feel slow.

    Each call runs in a copy of the caller's context, so what it logs inside a run still
    names the run (`logs.current_run_id`)."""
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        calls = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
        return [call.result() for call in calls]


def parse_time(value: str | datetime) -> datetime:
    """An aware UTC datetime from ISO text or a datetime; naive values are taken as UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def audit_path(asset_key: Sequence[str], partition: str | None, version: str) -> str:
    return f"{layout.version_path(asset_key, partition, version)}/{AUDIT_FILE}"


def audit_status(storage: LakeStorage, manifest_dir: str) -> dict[str, Any] | None:
    """The audit record `{"passed": bool, ...}` written beside a version's manifest, if any.

    A manifest is immutable once written, and audits run after it (write, audit,
    publish), so their verdict lives in its own file in the version folder."""
    found = read_json(storage, f"{manifest_dir}/{AUDIT_FILE}", "audit record")
    if found is None:
        return None
    record = found[0]
    if not isinstance(record, dict) or not isinstance(record.get("passed"), bool):
        raise LakeIntegrityError(f"{storage.uri(manifest_dir)}/{AUDIT_FILE} has no boolean 'passed'")
    return record


def record_audit(
    store: VersionStore,
    asset_key: Sequence[str],
    partition: str | None,
    version: str,
    *,
    passed: bool,
    checks: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    manifest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the audit verdict beside a complete version (the hook for write-audit-publish).

    `extra` carries what later audits reuse (the version's history profile), so they
    read this small file instead of the version's data. A caller that has just read the
    version's `manifest` passes it: it is written last, so the version is complete;
    otherwise it is read here, which refuses an incomplete version."""
    if manifest is None or manifest.get("version") != version:
        store.manifest(asset_key, partition, version)
    record = {**(extra or {}), "passed": passed, "checks": checks or {}, "at": datetime.now(UTC).isoformat()}
    body = json_bytes(record)
    store.storage.write_bytes(audit_path(asset_key, partition, version), body)
    return record


def audit_state(store: VersionStore, manifest: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(passed | failed | unaudited, check results) for a version.

    `_audit.json` wins; a manifest whose `checks` already carry a verdict (checks run
    before the write) counts too; versions from before audits existed are unaudited."""
    prefix = layout.version_path(manifest["asset_key"], manifest["partition"], manifest["version"])
    record = audit_status(store.storage, prefix)
    if record is None and isinstance(manifest.get("checks"), dict) and "passed" in manifest["checks"]:
        record = manifest["checks"]
    if record is None:
        return AUDIT_UNKNOWN, {}
    checks = record.get("checks", {k: v for k, v in record.items() if k != "passed"})
    return (AUDIT_PASSED if record["passed"] else AUDIT_FAILED), checks


def publish_stack(pointer: dict[str, Any] | None) -> list[str]:
    """The versions readers would fall back through, oldest first; the last is published.

    Walking the pointer history oldest first: a publish puts its version on top; a
    rollback to a version on the stack drops everything above it, and a rollback to a
    version not on it drops everything written after it. A version that was rolled back
    *from* was judged bad, so it is never a fallback again (unless someone rolls forward
    to it with `--to`). So rolling back twice goes back twice, each time to the newest
    earlier version nobody rolled back from."""
    if not pointer:
        return []
    stack: list[str] = []
    rolled_from: set[str] = set()
    for entry in reversed(pointer.get("history", [])):
        version = entry["version"]
        if entry.get("event") == EVENT_ROLLBACK:
            if stack and stack[-1] > version:  # back, not forward: the version left was judged bad
                rolled_from.add(stack[-1])
            if version in stack:
                del stack[stack.index(version) + 1 :]
            else:
                stack = [v for v in stack if v < version] + [version]
            rolled_from.discard(version)
        else:
            if version in stack:
                stack.remove(version)
            stack.append(version)
            rolled_from.discard(version)
    if not stack or stack[-1] != pointer["version"]:
        stack.append(pointer["version"])
    return [v for v in stack[:-1] if v not in rolled_from] + [stack[-1]]


@dataclass(frozen=True)
class VersionInfo:
    """One version as `platform versions` and the catalog list it."""

    version: str
    state: str
    audit: str
    created_at: str
    run_id: str
    row_count: int | None
    bytes: int
    content_hash: str
    published_at: str | None
    checks: dict[str, Any] = field(default_factory=dict)


def version_history(
    store: VersionStore, asset_key: Sequence[str], partition: str | None
) -> list[VersionInfo]:
    """Every complete version of a partition, newest first, with its publish and audit state."""
    pointer = store.pointer(asset_key, partition)
    stack = publish_stack(pointer)
    history = (pointer or {}).get("history", [])
    last_published: dict[str, str] = {}
    for entry in reversed(history):
        last_published[entry["version"]] = entry["at"]

    def describe(version: str) -> VersionInfo:
        manifest = store.manifest(asset_key, partition, version)
        audit, checks = audit_state(store, manifest)
        if stack and version == stack[-1]:
            state = STATE_PUBLISHED
        elif version in stack:
            state = STATE_SUPERSEDED
        elif version in last_published:
            state = STATE_ROLLED_BACK
        else:
            state = STATE_UNPUBLISHED
        return VersionInfo(
            version=version,
            state=state,
            audit=audit,
            created_at=manifest.get("created_at", ""),
            run_id=manifest.get("run_id", ""),
            row_count=manifest.get("row_count"),
            bytes=manifest.get("bytes", 0),
            content_hash=manifest.get("content_hash", ""),
            published_at=last_published.get(version),
            checks=checks,
        )

    return parallel_map(describe, reversed(store.versions(asset_key, partition)))


def version_as_of(
    store: VersionStore, asset_key: Sequence[str], partition: str | None, as_of: str | datetime
) -> str | None:
    """The version readers saw at `as_of`, from the pointer history; None if none was published.

    When the history was trimmed before `as_of`, fall back to the newest version written
    by then that did not fail its audit: the best answer the lake still holds."""
    moment = parse_time(as_of)
    pointer = store.pointer(asset_key, partition)
    history = (pointer or {}).get("history", [])
    for entry in history:  # newest first
        if parse_time(entry["at"]) <= moment:
            return entry["version"]
    if len(history) < POINTER_HISTORY_LIMIT:
        return None
    for version in reversed(store.versions(asset_key, partition)):
        if layout.version_time(version) <= moment:
            manifest = store.manifest(asset_key, partition, version)
            if audit_state(store, manifest)[0] != AUDIT_FAILED:
                return version
    return None


@dataclass(frozen=True)
class Rollback:
    """What a rollback did, for the CLI to print and the Dagster event to carry."""

    asset_key: tuple[str, ...]
    partition: str | None
    from_version: str
    to_version: str
    actor: str
    reason: str | None
    forced: bool
    audit: str
    at: str
    seconds: float
    manifest: dict[str, Any]
    direction: str = "back"


def rollback(
    store: VersionStore,
    asset_key: Sequence[str],
    partition: str | None,
    *,
    to: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
    force: bool = False,
) -> Rollback:
    """Re-point readers at an earlier version: `to`, or the one published before the current.

    Refuses versions that failed their audit unless `force`: publishing known-bad data
    should take a deliberate second flag, and the pointer history then says it was forced."""
    started = time.perf_counter()
    where = layout.partition_path(asset_key, partition)
    if to is not None and not layout.is_version_id(to):
        raise RollbackError(f"{where}: {to!r} is not a version id (see `platform versions`)")
    pointer = store.pointer(asset_key, partition)
    if pointer is None:
        raise RollbackError(f"{where} has no published version; there is nothing to roll back")
    current = pointer["version"]
    if to is None:
        stack = publish_stack(pointer)
        if len(stack) < 2:
            raise RollbackError(
                f"{where}: no earlier published version to go back to (versions rolled back from are "
                "skipped); pass --to VERSION (see `platform versions`)"
            )
        to = stack[-2]
    if to == current:
        raise RollbackError(f"{where}: {to} is already the published version")
    try:
        manifest = store.manifest(asset_key, partition, to)
    except VersionError:
        raise RollbackError(f"{where} has no complete version {to}") from None
    audit, checks = audit_state(store, manifest)
    if audit != AUDIT_PASSED and not force:
        why = "failed its audit" if audit == AUDIT_FAILED else "was never audited (an interrupted run?)"
        raise RollbackError(f"{where}: version {to} {why}; pass --force to publish it anyway")
    actor = actor or current_user()
    forced = audit != AUDIT_PASSED  # only reachable with force
    direction = "forward" if to > current else "back"
    recorded_reason = f"[forced past {audit} audit] {reason or ''}".strip() if forced else reason
    updated = store.publish(
        asset_key,
        partition,
        to,
        event=EVENT_ROLLBACK,
        actor=actor,
        reason=recorded_reason,
        checks={"audit": audit, "forced": forced, "direction": direction, "from": current, **checks},
    )
    return Rollback(
        asset_key=tuple(asset_key),
        partition=partition,
        from_version=current,
        to_version=to,
        actor=actor,
        reason=reason,
        forced=forced,
        audit=audit,
        at=updated["published_at"],
        seconds=time.perf_counter() - started,
        manifest=manifest,
        direction=direction,
    )


def lake_assets(store: VersionStore) -> list[tuple[str, str]]:
    """Asset keys (zone, name) that have anything in the lake, in zone order."""
    found = []
    for zone in layout.ASSET_ZONES:
        for name in store.storage.list_names(zone):
            try:
                layout.asset_path([zone, name])
            except layout.AssetPathError:
                continue  # not an asset folder (temporary or foreign files)
            found.append((zone, name))
    return found


@dataclass(frozen=True)
class AssetStatus:
    """How current an asset is: for `platform status`."""

    asset: str
    partitions: int
    published: int
    last_published_at: str | None
    # Partitions whose newest complete version is not the one readers see: a failed
    # audit, a rollback, or a write that has not been published yet.
    held_back: list[str]
    # Corrupt pointers or manifests, by path: each affects only its own partition.
    problems: list[str] = field(default_factory=list)


def asset_status(store: VersionStore, asset_key: Sequence[str]) -> AssetStatus:
    """One asset's publish state; a corrupt partition is listed, not fatal."""
    partitions: list[str | None] = list(store.partitions(asset_key)) or [None]

    def one(partition: str | None) -> tuple[str | None, dict[str, Any] | None, list[str], str | None]:
        versions = store.versions(asset_key, partition)
        try:
            pointer = store.pointer(asset_key, partition)
            if pointer is not None:
                store.manifest(asset_key, partition, pointer["version"])
        except (LakeIntegrityError, VersionError) as error:
            return partition, None, versions, str(error)
        return partition, pointer, versions, None

    rows = [row for row in parallel_map(one, partitions) if row[2] or row[3]]
    published = [(p, pointer) for p, pointer, _, _ in rows if pointer]
    held_back = [
        str(p) for p, pointer, versions, problem in rows
        if not problem and (not pointer or pointer["version"] != versions[-1])
    ]  # fmt: skip
    times = [pointer["published_at"] for _, pointer in published]
    return AssetStatus(
        asset="/".join(asset_key),
        partitions=len(rows),
        published=len(published),
        last_published_at=max(times) if times else None,
        held_back=held_back,
        problems=[problem for *_, problem in rows if problem],
    )


def report_rollback(result: Rollback, instance: Any = None) -> None:
    """Record the rollback on the asset in Dagster as a materialization of the restored version.

    A materialization, not an observation: it carries the restored version's own
    metadata (version, URI, manifest, inputs) and its content hash as the data version,
    so the partition's latest event in the UI names what readers now see, and Dagster
    marks the downstream partitions built from the version rolled back from as stale,
    which the automation condition then rebuilds from the restored version."""
    import dagster as dg

    from platform_assets.lake.io_manager import version_metadata

    instance = instance or dg.DagsterInstance.get()
    metadata = {
        **version_metadata({**result.manifest, "status": STATE_PUBLISHED}),
        "platform/event": EVENT_ROLLBACK,
        "platform/previous_version": result.from_version,
        "platform/direction": result.direction,
        "platform/actor": result.actor,
        "platform/reason": result.reason or "",
        "platform/audit": result.audit,
        "platform/forced": result.forced,
        "platform/published_at": result.at,
    }
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=dg.AssetKey(list(result.asset_key)),
            partition=result.partition,
            metadata=metadata,
            tags={DATA_VERSION_TAG: result.manifest["content_hash"]},
        )
    )
