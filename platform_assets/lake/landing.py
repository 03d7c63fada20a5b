"""The landing area: where sources drop files before the raw zone copies them.

landing/<dataset>/<YYYY-MM-DD>.<ext>   one file per day for event data
landing/<dataset>.<ext>                one file for a reference table
landing/_rejected/<dataset>/<file>     what the platform could not accept, moved aside,
landing/_rejected/<dataset>/<file>.reason.json   with why (see automation/landing_rejects.py)

Files directly in landing/ that are not a reference table are rejected under the
dataset name `_landing`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta

from platform_assets.lake import layout
from platform_assets.lake.storage import LakeStorage

LANDING_ZONE = "landing"
REJECTED_FOLDER = "_rejected"
TOP_LEVEL = "_landing"


def landing_path(dataset: str, partition: str | None = None, ext: str = "csv") -> str:
    layout.asset_path([LANDING_ZONE, dataset])  # validates the dataset name
    if partition is None:
        return f"{LANDING_ZONE}/{dataset}.{ext}"
    return f"{LANDING_ZONE}/{dataset}/{layout.validate_partition_key(partition)}.{ext}"


def land_file(storage: LakeStorage, rel: str, data: bytes) -> bool:
    """Drop `data` at `rel` unless the same bytes are already there.

    Returns whether anything was written, so landing twice is a no-op that says so."""
    info = storage.file_info(rel)
    if info is not None and info.size == len(data) and storage.read_bytes(rel) == data:
        return False
    storage.write_bytes(rel, data)
    return True


def days(start: date, end: date) -> Iterator[str]:
    """Every day of [start, end] as a partition key."""
    for offset in range((end - start).days + 1):
        yield (start + timedelta(days=offset)).isoformat()


def land_files(
    storage: LakeStorage,
    files: Iterable[tuple[str, Callable[[], bytes]]],
    progress: Callable[[int], object] | None = None,
) -> dict[str, int]:
    """Land each (landing path, bytes to render) a source yields; what is in place is left alone.

    Every domain's `land` is this over its own files. Returns how many files were
    written and how many were already there with the same bytes."""
    counts = {"written": 0, "unchanged": 0}
    for rel, render in files:
        counts["written" if land_file(storage, rel, render()) else "unchanged"] += 1
        if progress:
            progress(1)
    return counts
