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

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
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
    return check_references_many({0: frame}, relations, keys)[0]


def check_references_many(
    frames: Mapping[Hashable, pd.DataFrame], relations: Sequence[Relation], keys: KeyLookup
) -> dict[Hashable, Outcome]:
    """`check_references` for many frames (a backfill's partitions), each judged on its own
    rows, with one lookup per relation over all of them: what a year costs is the rows, not
    365 rounds of pandas calls. Codes tied in count are listed in code order."""
    names = list(frames)
    if not names:
        return {}
    results: dict[Hashable, dict[str, dict[str, Any]]] = {name: {} for name in names}
    warnings: dict[Hashable, list[str]] = {name: [] for name in names}
    lengths = np.array([len(frame) for frame in frames.values()], dtype="int64")
    for relation in relations:
        known = keys(relation.reference, relation.key)
        if known is None:
            for name in names:
                results[name][relation.name] = {
                    "policy": str(relation.policy),
                    "status": "reference not published",
                }
                warnings[name].append(f"{'/'.join(relation.reference)} is not published")
            continue
        known = known if isinstance(known, set | frozenset) else set(known)
        values = pd.concat([frame[relation.column] for frame in frames.values()], ignore_index=True)
        owner = np.repeat(np.arange(len(names)), lengths)
        present = values.notna().to_numpy(dtype=bool)
        codes = values[present].astype("str").to_numpy(dtype=object)
        # A plain set lookup: pandas' `isin` on Arrow-backed strings is ~100x slower here.
        missing = np.fromiter((code not in known for code in codes), dtype=bool, count=len(codes))
        unmatched = pd.DataFrame({"owner": owner[present][missing], "code": codes[missing]})
        counts = unmatched.groupby(["owner", "code"], sort=True).size() if len(unmatched) else None
        by_owner = {} if counts is None else dict(tuple(counts.groupby(level="owner", sort=False)))
        for position, name in enumerate(names):
            mine = by_owner.get(position)
            top = (
                {}
                if mine is None
                else mine.droplevel("owner").sort_values(ascending=False, kind="stable").head(TOP_CODES)
            )
            rows = 0 if mine is None else int(mine.sum())
            share = rows / lengths[position] if lengths[position] else 0.0
            results[name][relation.name] = {
                "policy": str(relation.policy),
                "unmatched_rows": rows,
                "unmatched_share": round(float(share), 4),
                "unmatched_values": 0 if mine is None else len(mine),
                "top_unmatched": {str(k): int(v) for k, v in dict(top).items()},
            }
            over = relation.warn_above_share is not None and share > relation.warn_above_share
            if rows and (relation.policy == Policy.WARN or over):
                warnings[name].append(f"{relation.name}: {rows} row(s) unmatched, e.g. {list(top.index[:3])}")
    out = {}
    for name in names:
        description = "; ".join(warnings[name]) if warnings[name] else "no relation beyond its policy"
        out[name] = Outcome(
            CHECK_REFERENCES, not warnings[name], WARN, description, {"relations": results[name]}
        )
    return out
