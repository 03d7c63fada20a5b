"""Landing files the platform will not ingest: moved aside with a reason, listed until handled.

A rejected entry moves from `landing/<dataset>/<file>` to
`landing/_rejected/<dataset>/<file>`, and `<file>.reason.json` beside it says what
was wrong, where it came from and, for a link, where the link pointed. Moving it out
of landing is what makes a rejection visible exactly once and keeps it visible: the
sensor never lists it again (so it alerts once), and `platform status` lists the
`_rejected/` area until an operator handles each entry (deletes it, or fixes its name
and moves it back into landing) and deletes its reason file.

A link is moved as a link (renamed, never followed). When an entry cannot be moved
(a read-only landing folder, say), its reason is still recorded, marked as left in
place, and the sensor remembers it so it is not alerted every tick."""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime

from platform_assets.automation.landing_scan import Rejection
from platform_assets.lake import local_fs
from platform_assets.lake.landing import LANDING_ZONE, REJECTED_FOLDER
from platform_assets.lake.storage import LakePathError, LakeStorage

REASON_SUFFIX = ".reason.json"
REJECTED_AREA = f"{LANDING_ZONE}/{REJECTED_FOLDER}"


@dataclass(frozen=True)
class RejectedFile:
    """One rejected landing entry as recorded beside it."""

    landing_path: str
    now_at: str  # where the entry is now: in _rejected/, or still in landing when it could not be moved
    reason: str
    rejected_at: str
    target: str | None = None
    moved: bool = True


def _safe(name: str) -> str:
    """A single path component for `_rejected/`: the listing's name, minus what a lake path refuses."""
    cleaned = name.replace("\\", "_").replace("\x00", "_")
    return cleaned if cleaned not in ("", ".", "..") else "_"


def _taken(storage: LakeStorage, rel: str) -> bool:
    if storage.is_local:
        return os.path.lexists(f"{storage.root}/{rel}")  # a link there counts, without following it
    return storage.exists(rel)


def _destination(storage: LakeStorage, dataset: str, name: str) -> str:
    """`_rejected/<dataset>/<name>`, or `<name>~N` when an earlier rejection holds that name."""
    folder = f"{REJECTED_AREA}/{_safe(dataset)}"
    base = _safe(name)
    candidate = f"{folder}/{base}"
    number = 1
    while _taken(storage, candidate) or _taken(storage, f"{candidate}{REASON_SUFFIX}"):
        candidate = f"{folder}/{base}~{number}"
        number += 1
    return candidate


def _move(storage: LakeStorage, src: str, dst: str) -> None:
    if storage.is_local:
        local_fs.move_entry(storage.root, src, dst)
        return
    if storage.file_info(src) is not None:
        storage.fs.move(storage.full_path(src), storage.full_path(dst))
        return
    for inner in list(storage.list_files(src)):  # an S3 "folder": every object under the prefix
        storage.fs.move(storage.full_path(inner.path), storage.full_path(dst + inner.path[len(src) :]))


def reject(storage: LakeStorage, rejection: Rejection, at: datetime | None = None) -> RejectedFile:
    """Move one entry to `_rejected/` and write its reason beside it (or record it in place)."""
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    destination = _destination(storage, rejection.dataset, posixpath.basename(rejection.path))
    moved, error = True, None
    try:
        _move(storage, rejection.path, destination)
    except (OSError, LakePathError, local_fs.LakeLinkError) as problem:
        moved, error = False, str(problem)
    record = {
        "landing_path": rejection.path,
        "now_at": destination if moved else rejection.path,
        "reason": rejection.reason,
        "link_target": rejection.target,
        "rejected_at": when,
        "moved": moved,
        "move_error": error,
        "to_handle": "delete the entry and this file, or fix the name and move it back into landing/",
    }
    storage.write_bytes(f"{destination}{REASON_SUFFIX}", json.dumps(record, indent=2).encode())
    return RejectedFile(
        rejection.path, str(record["now_at"]), rejection.reason, when, rejection.target, moved
    )


def rejected_files(storage: LakeStorage) -> list[RejectedFile]:
    """Every rejection still recorded in `_rejected/`, oldest first: what status shows."""
    found = []
    for dataset in storage.list_names(REJECTED_AREA):
        folder = f"{REJECTED_AREA}/{dataset}"
        for name in storage.list_names(folder):
            if not name.endswith(REASON_SUFFIX):
                continue
            rel = f"{folder}/{name}"
            try:
                record = json.loads(storage.read_bytes(rel))
                found.append(
                    RejectedFile(
                        str(record["landing_path"]),
                        str(record["now_at"]),
                        str(record["reason"]),
                        str(record["rejected_at"]),
                        record.get("link_target"),
                        bool(record.get("moved", True)),
                    )
                )
            except (ValueError, KeyError, TypeError, OSError) as problem:
                found.append(RejectedFile(rel, rel, f"unreadable reason file: {problem}", "-"))
    return sorted(found, key=lambda r: (r.rejected_at, r.landing_path))


def rejected_summary(storage: LakeStorage, limit: int = 20) -> str:
    """The landing lines of `platform status`: every rejection still waiting for a person."""
    try:
        found = rejected_files(storage)
    except local_fs.LakeLinkError as error:
        return f"landing: {REJECTED_AREA} not read: {error}"
    if not found:
        return f"landing: nothing rejected ({storage.uri(REJECTED_AREA)} is empty)"
    lines = [
        f"landing: {len(found)} rejected file(s) in {storage.uri(REJECTED_AREA)}; handle each by deleting it "
        "(and its .reason.json) or by fixing its name and moving it back into landing/"
    ]
    for item in found[:limit]:
        where = "" if item.moved else " (could not be moved; still in landing)"
        lines.append(f"  {item.landing_path}: {item.reason}{where} [rejected {item.rejected_at}]")
    if len(found) > limit:
        lines.append(f"  ... and {len(found) - limit} more")
    return "\n".join(lines)
