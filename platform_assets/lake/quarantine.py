"""The quarantine zone: rows an asset rejected, kept beside the version they were rejected from.

    quarantine/<asset>/date=<partition>/v=<version>/part-00000.parquet

The version id is the id of the asset version the rows were cut from, so "what did
version X leave out, and why" is one path away. Quarantine versions are never
published: nothing reads them as data, people read them to fix a source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from platform_assets.lake.versions import VersionStore

QUARANTINE_ZONE = "quarantine"
REASON_COLUMN = "reason"
SOURCE_ROW_COLUMN = "source_row"


@dataclass(frozen=True)
class Screened:
    """An asset's output after screening: the rows that continue, and the rows that do not.

    `rejected` holds the rejected rows with a `reason` column (every rule each broke)
    and `source_row` (where they were offered: for a landed file, its line number,
    the header being line 1, as every message about a landed row counts)."""

    kept: pa.Table
    rejected: pa.Table
    offered: int
    by_reason: Mapping[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What the version's manifest records about its quarantine."""
        return {
            "offered": self.offered,
            "rejected": self.rejected.num_rows,
            "by_reason": dict(sorted(self.by_reason.items())),
        }


def quarantine_key(asset_key: Sequence[str]) -> list[str]:
    """`["quarantine", name]` for `["curated", name]`: the zone replaces the first part."""
    return [QUARANTINE_ZONE, *list(asset_key)[1:]]


def write_rejected(
    store: VersionStore,
    asset_key: Sequence[str],
    partition: str | None,
    screened: Screened,
    *,
    version: str,
    run_id: str,
) -> dict[str, Any] | None:
    """Keep the rejected rows under the asset version's own id; None when nothing was rejected."""
    if screened.rejected.num_rows == 0:
        return None
    return store.write_table(
        quarantine_key(asset_key),
        partition,
        screened.rejected,
        run_id=run_id,
        version=version,
        extra={"rejected_from": list(asset_key), **screened.summary()},
    )
