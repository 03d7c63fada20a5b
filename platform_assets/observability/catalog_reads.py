"""Bytes and reads of catalog queries, from the audit records every catalog read writes.

Notebooks and scripts read the lake in their own processes and write no manifests, so
the exporter learns what they read from the one record each read leaves in the audit
log (`catalog_read`, with the bytes of the data files it was allowed to open: exact for
`Catalog.sql`, which is given only the files its date filter can touch). Counters start
when the exporter does, as Prometheus counters do: each refresh lists the day folders
since then and reads only records it has not seen, so a scrape's cost follows what was
done since the last one, never the lake's age."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from platform_assets.governance.audit_log import ACTION_CATALOG_READ, AUDIT_ROOT, OUTCOME_OK
from platform_assets.lake.storage import LakeStorage

_DAY_PREFIX = "date="


class CatalogReadScanner:
    """Running totals of catalog reads by asset, since `since` (default: now)."""

    def __init__(self, storage: LakeStorage, since: datetime | None = None) -> None:
        self.storage = storage
        self.since = (since or datetime.now(UTC)).astimezone(UTC)
        self.bytes: dict[str, int] = {}
        self.reads: dict[str, int] = {}
        self.files_read = 0  # audit records read by the last scan
        self._seen: set[str] = set()

    def scan(self) -> None:
        self.files_read = 0
        first_day = f"{_DAY_PREFIX}{self.since:%Y-%m-%d}"
        first_name = f"{self.since:%Y%m%dT%H%M%S%f}Z"
        days = [
            d for d in self.storage.list_names(AUDIT_ROOT) if d.startswith(_DAY_PREFIX) and d >= first_day
        ]
        for day in days:
            for item in self.storage.list_files(f"{AUDIT_ROOT}/{day}", recursive=False):
                name = item.path.rsplit("/", 1)[-1]
                if item.path in self._seen or not name.endswith(".json") or name < first_name:
                    continue
                self._seen.add(item.path)
                self.files_read += 1
                try:
                    record = json.loads(self.storage.read_bytes(item.path))
                except (OSError, ValueError):
                    continue  # a record being written or damaged: the audit log's own checks report it
                if record.get("action") != ACTION_CATALOG_READ or record.get("outcome") != OUTCOME_OK:
                    continue
                asset = str(record.get("asset") or "")
                self.reads[asset] = self.reads.get(asset, 0) + 1
                self.bytes[asset] = self.bytes.get(asset, 0) + int(
                    (record.get("details") or {}).get("bytes") or 0
                )
