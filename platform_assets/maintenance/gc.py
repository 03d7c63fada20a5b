"""Garbage collection: plan what retention allows, and delete it through one function.

`collect` plans from one scan of the lake (see `retention` for the rules), then hands
each candidate to `delete`, the only code that removes anything from the lake.
`delete` re-lists the item and re-reads the pointers that could protect it, applies
the same keep rules again, and only then deletes: a publish, rollback or write that
happened since the scan wins. A version folder loses its manifest first, so a crash
part-way leaves an incomplete version (never read, finished by the next run), never a
complete-looking version with missing files. Each deletion is one audit record."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.fs as pafs

from platform_assets.governance import audit_log
from platform_assets.governance.s3 import is_local
from platform_assets.lake import layout
from platform_assets.lake.landing import LANDING_ZONE
from platform_assets.lake.quarantine import QUARANTINE_ZONE
from platform_assets.lake.storage import LakeFile, LakeStorage
from platform_assets.maintenance import retention as rt
from platform_assets.maintenance.retention import Candidate, LakeScan, RetentionPolicy

GC_SERVICE = "gc"


@dataclass
class GcReport:
    """What a run found deletable, what it deleted, and what it left because a rule re-applied."""

    applied: bool
    now: datetime
    planned: list[Candidate] = field(default_factory=list)
    deleted: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[Candidate, str]] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # damaged metadata: superseded versions all kept

    @property
    def bytes_planned(self) -> int:
        return sum(c.bytes for c in self.planned)

    @property
    def bytes_reclaimed(self) -> int:
        return sum(c.bytes for c in self.deleted)

    def by_kind(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = defaultdict(lambda: {"items": 0, "bytes": 0})
        for candidate in self.deleted if self.applied else self.planned:
            totals[candidate.kind]["items"] += 1
            totals[candidate.kind]["bytes"] += candidate.bytes
        return dict(totals)

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "now": self.now.isoformat(),
            "seconds": round(self.seconds, 3),
            "bytes_planned": self.bytes_planned,
            "bytes_reclaimed": self.bytes_reclaimed,
            "by_kind": self.by_kind(),
            "items": [
                {"kind": c.kind, "path": c.path, "bytes": c.bytes, "reason": c.reason}
                for c in (self.deleted if self.applied else self.planned)
            ],
            "skipped": [{"path": c.path, "kept_because": why} for c, why in self.skipped],
            "problems": self.problems,
        }


def _slot(candidate: Candidate) -> rt.Slot | None:
    if candidate.asset_key is None:
        return None
    return ("/".join(candidate.asset_key), candidate.partition)


def keep_reason(
    candidate: Candidate,
    files: list[LakeFile],
    pointer: Mapping[str, Any] | None,
    lake: LakeScan,
    storage: LakeStorage,
    policy: RetentionPolicy,
    now: datetime,
) -> str | None:
    """Why `candidate` must stay, judged on `files` and `pointer` as given; None: it may go."""
    if not files:
        return "already gone"
    moment = rt.activity(candidate.version, files)
    if moment > now - policy.in_flight_grace:
        return "younger than the in-flight grace"
    if moment > now - candidate_ttl(candidate, policy):
        return "within its retention"
    if (
        candidate.kind in (rt.KIND_INTERRUPTED, rt.KIND_SUPERSEDED)
        and candidate.asset_key[0] != QUARANTINE_ZONE
    ):
        asset, partition, version = "/".join(candidate.asset_key), candidate.partition, candidate.version
        if pointer and pointer.get("version") == version:
            return "published"
        if version in rt.window_versions(pointer, now - policy.rollback_window):
            return "published within the rollback window"
        if lake.protection.names((asset, partition, version)):
            return "upstream of a published version"
        if candidate.kind == rt.KIND_INTERRUPTED and any(
            f.path.endswith(f"/{layout.MANIFEST_FILE}") for f in files
        ):
            return "completed since the scan"
    if candidate.kind == rt.KIND_LANDING and not rt.is_ingested(lake, storage, files[0]):
        return "not held by the published raw version"
    return None


def candidate_ttl(candidate: Candidate, policy: RetentionPolicy) -> timedelta:
    """How long after its last activity an item of this kind is kept."""
    if candidate.kind == rt.KIND_INTERRUPTED:
        return policy.interrupted_grace
    if candidate.kind == rt.KIND_SUPERSEDED:
        return policy.superseded[candidate.asset_key[0]].keep_for
    if candidate.kind == rt.KIND_QUARANTINE:
        return policy.quarantine[rt.Classification.parse(candidate.classification or "restricted")]
    if candidate.kind == rt.KIND_CANARY:
        return policy.canary_expiry
    return policy.landing_ingested


def _version_candidates(storage: LakeStorage, lake: LakeScan, policy: RetentionPolicy) -> list[Candidate]:
    found = []
    for key, listing in lake.listings.items():
        zone = key[0]
        by_partition: dict[str | None, list[str]] = defaultdict(list)
        for partition, version in listing.versions:
            by_partition[partition].append(version)
        for partition, versions in by_partition.items():
            pointer = lake.pointers.get(("/".join(key), partition))
            published = pointer.get("version") if pointer else None
            complete = sorted(
                (v for v in versions if listing.versions[(partition, v)].has_manifest), reverse=True
            )
            superseded = [v for v in complete if v != published]
            retained = set(superseded[: policy.superseded[zone].keep_versions])
            for version in versions:
                folder = listing.versions[(partition, version)]
                if not folder.has_manifest:
                    kind, reason = rt.KIND_INTERRUPTED, "no manifest (interrupted write)"
                elif version == published or version in retained:
                    continue
                else:
                    kind, reason = rt.KIND_SUPERSEDED, f"superseded beyond the newest {len(retained)} kept"
                found.append(
                    Candidate(kind, folder.path, tuple(folder.files), reason, key, partition, version)
                )
    return found


def _quarantine_candidates(
    storage: LakeStorage, lake: LakeScan, policy: RetentionPolicy, now: datetime
) -> list[Candidate]:
    found = []
    shortest = min(policy.quarantine.values())
    for key in rt.asset_keys(storage, [QUARANTINE_ZONE]):
        listing = rt.list_asset(storage, key)
        for (partition, version), folder in listing.versions.items():
            if not folder.has_manifest:
                reason = "no manifest (interrupted write)"
                found.append(
                    Candidate(
                        rt.KIND_INTERRUPTED, folder.path, tuple(folder.files), reason, key, partition, version
                    )
                )
                continue
            if rt.activity(version, folder.files) > now - shortest:
                continue  # younger than any quarantine retention: no need to read its manifest
            manifest = rt.read_json(storage, f"{folder.path}/{layout.MANIFEST_FILE}")
            level = rt.quarantine_level(storage, lake, manifest)
            reason = f"{level.label} quarantine past {policy.quarantine[level].days} day(s)"
            found.append(
                Candidate(
                    rt.KIND_QUARANTINE,
                    folder.path,
                    tuple(folder.files),
                    reason,
                    key,
                    partition,
                    version,
                    level.label,
                )
            )
    return found


def _canary_candidates(storage: LakeStorage) -> list[Candidate]:
    found = []
    for name in storage.list_names(rt.CANARY_ROOT):
        path = f"{rt.CANARY_ROOT}/{name}"
        files = tuple(storage.list_files(path))
        if files:
            found.append(Candidate(rt.KIND_CANARY, path, files, "canary output past its expiry"))
    return found


def _landing_candidates(storage: LakeStorage) -> list[Candidate]:
    found = []
    for item in storage.list_files(LANDING_ZONE):
        if item.path.startswith(f"{LANDING_ZONE}/{rt.REJECTED_LANDING}/") or ".tmp-" in item.path:
            continue
        found.append(
            Candidate(rt.KIND_LANDING, item.path, (item,), "landed file held by the published raw version")
        )
    return found


def plan(storage: LakeStorage, policy: RetentionPolicy, now: datetime) -> tuple[LakeScan, list[Candidate]]:
    """Everything retention allows deleting at `now`, from one scan of the lake."""
    lake = rt.scan(storage)
    candidates = [
        *_version_candidates(storage, lake, policy),
        *_quarantine_candidates(storage, lake, policy, now),
        *_canary_candidates(storage),
        *_landing_candidates(storage),
    ]
    if lake.problems:
        candidates = [c for c in candidates if c.kind != rt.KIND_SUPERSEDED]
    deletable = []
    for candidate in candidates:
        pointer = lake.pointers.get(_slot(candidate)) if _slot(candidate) else None
        if keep_reason(candidate, list(candidate.files), pointer, lake, storage, policy, now) is None:
            deletable.append(candidate)
    return lake, deletable


def _current_files(storage: LakeStorage, candidate: Candidate) -> list[LakeFile]:
    if candidate.kind == rt.KIND_LANDING:
        info = storage.file_info(candidate.path)
        return [info] if info else []
    return list(storage.list_files(candidate.path))


def delete(
    storage: LakeStorage, candidate: Candidate, lake: LakeScan, policy: RetentionPolicy, now: datetime
) -> str | None:
    """The one function that deletes from the lake: re-check every keep rule, then delete.

    Returns why the item was kept, or None when it was deleted (and audited)."""
    files = _current_files(storage, candidate)
    pointer = None
    slot = _slot(candidate)
    try:
        if slot is not None and candidate.asset_key[0] != QUARANTINE_ZONE:
            pointer = rt.read_json(storage, layout.pointer_path(candidate.asset_key, candidate.partition))
            lake.protection.refresh_for(storage, slot)
        if candidate.kind == rt.KIND_LANDING:
            _refresh_raw(storage, lake, candidate.path)
    except rt.UnreadableMetadata as error:
        return f"a pointer or manifest that could protect it is unreadable ({error})"
    why = keep_reason(candidate, files, pointer, lake, storage, policy, now)
    if why is not None:
        return why
    # The manifest goes first: from then on the folder is an incomplete version nobody reads.
    ordered = sorted(files, key=lambda f: (not f.path.endswith(f"/{layout.MANIFEST_FILE}"), f.path))
    for item in ordered:
        path = storage.full_path(item.path)
        storage.retrying("delete", item.path, lambda p=path: _delete_file(storage, p))
    if is_local(storage) and candidate.kind != rt.KIND_LANDING:
        _remove_empty_dirs(storage, candidate.path)
    audit_log.append(
        storage,
        audit_log.ACTION_GC_DELETE,
        asset=candidate.asset_key or candidate.path,
        partitions=[candidate.partition] if candidate.asset_key else [],
        versions=[candidate.version] if candidate.version else [],
        service=GC_SERVICE,
        details={"kind": candidate.kind, "path": candidate.path, "bytes": sum(f.size for f in files),
                 "reason": candidate.reason},
    )  # fmt: skip
    return None


def _delete_file(storage: LakeStorage, path: str) -> None:
    try:
        storage.fs.delete_file(path)
    except FileNotFoundError:
        pass  # deleted by an earlier, interrupted run


def _remove_empty_dirs(storage: LakeStorage, rel: str) -> None:
    path = storage.full_path(rel)
    info = storage.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=True))
    if not any(i.type == pafs.FileType.File for i in info):
        try:
            storage.fs.delete_dir(path)
        except FileNotFoundError:
            pass


def _refresh_raw(storage: LakeStorage, lake: LakeScan, landing_rel: str) -> None:
    """Re-read the raw pointer and manifest a landed file is judged against."""
    parts = landing_rel.split("/")
    dataset = parts[1].rsplit(".", 1)[0] if len(parts) == 2 else parts[1]
    partition = None if len(parts) == 2 else parts[2].rsplit(".", 1)[0]
    try:
        key = ["raw", dataset]
        pointer = rt.read_json(storage, layout.pointer_path(key, partition))
    except (layout.AssetPathError, layout.PartitionKeyError):
        return
    manifest = None
    if pointer:
        manifest = rt.read_json(
            storage, f"{layout.version_path(key, partition, pointer['version'])}/{layout.MANIFEST_FILE}"
        )
    lake.published[(f"raw/{dataset}", partition)] = manifest


def collect(
    storage: LakeStorage,
    policy: RetentionPolicy | None = None,
    *,
    apply: bool = False,
    now: datetime | None = None,
) -> GcReport:
    """Plan (and with `apply`, delete) everything retention allows at `now` (default: the start)."""
    started = time.perf_counter()
    policy = policy or RetentionPolicy.load()
    now = now or datetime.now(UTC)
    lake, planned = plan(storage, policy, now)
    report = GcReport(applied=apply, now=now, planned=planned, problems=lake.problems)
    if apply:
        for candidate in planned:
            why = delete(storage, candidate, lake, policy, now)
            if why is None:
                report.deleted.append(replace(candidate))
            else:
                report.skipped.append((candidate, why))
    report.seconds = time.perf_counter() - started
    return report
