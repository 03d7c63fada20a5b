"""Files landed but not yet ingested, and how old the oldest of them is.

A landed file counts as ingested when the newest complete version of its raw
partition holds exactly its bytes (the raw zone keeps landed files byte for byte, so
the raw manifest's content hash is the file's SHA-256). A file re-landed with new
bytes is backlog again until the raw zone copies it; re-landing the same bytes is
not. Each landed file is hashed once per change of its listing fingerprint (size and
modification time), so a scrape reads only files that changed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from platform_assets.lake.landing import LANDING_ZONE
from platform_assets.lake.storage import LakeStorage

_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.([A-Za-z0-9]+)$")


@dataclass(frozen=True)
class WatchedDataset:
    """A landing dataset and the raw asset that copies it."""

    name: str
    ext: str
    asset: tuple[str, str]
    partitioned: bool


@dataclass(frozen=True)
class BacklogFacts:
    dataset: str
    asset: tuple[str, str]
    landed_files: int
    backlog_files: int
    oldest_backlog_mtime: float | None  # epoch seconds
    newest_landed_mtime: float | None


# (zone, name, partition) -> content hash of the newest complete raw version, or None
IngestedHash = Callable[[tuple[str, str], str | None], str | None]


class BacklogScanner:
    def __init__(self, storage: LakeStorage, datasets: Sequence[WatchedDataset]) -> None:
        self.storage = storage
        self.datasets = list(datasets)
        self._hashes: dict[str, tuple[tuple[int, int | None], str]] = {}
        self.reads = 0

    def _sha256(self, path: str, size: int, mtime_ns: int | None) -> str:
        fingerprint = (size, mtime_ns)
        cached = self._hashes.get(path)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        self.reads += 1
        digest = hashlib.sha256(self.storage.read_bytes(path)).hexdigest()
        self._hashes[path] = (fingerprint, digest)
        return digest

    def scan(self, ingested: IngestedHash) -> list[BacklogFacts]:
        self.reads = 0
        return [self._scan(dataset, ingested) for dataset in self.datasets]

    def _scan(self, dataset: WatchedDataset, ingested: IngestedHash) -> BacklogFacts:
        if dataset.partitioned:
            listed = [
                (f, match.group(1))
                for f in self.storage.list_files(f"{LANDING_ZONE}/{dataset.name}", recursive=False)
                if (match := _DAY_FILE.match(f.path.rsplit("/", 1)[-1])) and match.group(2) == dataset.ext
            ]
        else:
            info = self.storage.file_info(f"{LANDING_ZONE}/{dataset.name}.{dataset.ext}")
            listed = [(info, None)] if info is not None else []
        backlog_mtimes: list[float] = []
        landed_mtimes: list[float] = []
        for entry, partition in listed:
            mtime = (entry.mtime_ns or 0) / 1e9
            landed_mtimes.append(mtime)
            try:
                digest = self._sha256(entry.path, entry.size, entry.mtime_ns)
            except FileNotFoundError:
                continue  # removed since the listing
            if ingested(dataset.asset, partition) != digest:
                backlog_mtimes.append(mtime)
        return BacklogFacts(
            dataset=dataset.name,
            asset=dataset.asset,
            landed_files=len(listed),
            backlog_files=len(backlog_mtimes),
            oldest_backlog_mtime=min(backlog_mtimes) if backlog_mtimes else None,
            newest_landed_mtime=max(landed_mtimes) if landed_mtimes else None,
        )
