"""Referential integrity between an event table and the reference tables it points into.

An unmatched code in an event table is rarely a reason to drop the event: a flight
to an airport the reference list does not carry still flew. So relations never
reject rows; each declares what an unmatched value means:

  warn     a miss means the reference table is stale or the code is wrong; the check
           fails as a warning (the version still publishes) and names the codes.
  report   misses are expected (the reference is known to be incomplete); the check
           reports counts and codes, and warns only when the unmatched share exceeds
           `warn_above_share` (a sign the reference table itself broke)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from platform_assets.quality.outcome import WARN, Outcome

CHECK_REFERENCES = "reference_integrity"
TOP_CODES = 10


class Policy(StrEnum):
    WARN = "warn"
    REPORT = "report"


@dataclass(frozen=True)
class Relation:
    """`column` of the audited table should appear in `key` of the `reference` asset."""

    column: str
    reference: tuple[str, ...]
    key: str
    policy: Policy
    warn_above_share: float | None = None

    @property
    def name(self) -> str:
        return f"{self.column} -> {'/'.join(self.reference)}.{self.key}"


KeyLookup = Callable[[tuple[str, ...], str], Collection[str] | None]


def check_references(frame: pd.DataFrame, relations: Sequence[Relation], keys: KeyLookup) -> Outcome:
    """Count unmatched values per relation; fail as a warning where the relation's policy says so."""
    results: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for relation in relations:
        known = keys(relation.reference, relation.key)
        values = frame[relation.column].dropna().astype("str")
        if known is None:
            results[relation.name] = {"policy": str(relation.policy), "status": "reference not published"}
            warnings.append(f"{'/'.join(relation.reference)} is not published")
            continue
        known = known if isinstance(known, set | frozenset) else set(known)
        # A plain set lookup: pandas' `isin` on Arrow-backed strings is ~100x slower here.
        unmatched = values[[value not in known for value in values.to_numpy(dtype=object)]]
        share = len(unmatched) / len(frame) if len(frame) else 0.0
        codes = unmatched.value_counts().head(TOP_CODES)
        results[relation.name] = {
            "policy": str(relation.policy),
            "unmatched_rows": len(unmatched),
            "unmatched_share": round(share, 4),
            "unmatched_values": int(unmatched.nunique()),
            "top_unmatched": {str(k): int(v) for k, v in codes.items()},
        }
        over = relation.warn_above_share is not None and share > relation.warn_above_share
        if len(unmatched) and (relation.policy == Policy.WARN or over):
            warnings.append(
                f"{relation.name}: {len(unmatched)} row(s) unmatched, e.g. {list(codes.index[:3])}"
            )
    description = "; ".join(warnings) if warnings else "no relation beyond its policy"
    return Outcome(CHECK_REFERENCES, not warnings, WARN, description, {"relations": results})
