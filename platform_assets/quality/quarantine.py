"""Row-level screening: rows that break a contract's row rules leave, the rest continue.

A malformed code, an impossible value or a duplicate says nothing about the other
thousand rows of a day, so it should not hold them back; it should be kept, with
every rule it broke, where someone can fix the source. Whether a partition with
too many rejects may still publish is the audit's decision (`rejected_share`), not
this module's.

Reasons, in the order they are assigned:
  the caller's own (e.g. a destination with no known time zone),
  `outside_partition`   the row's partition column disagrees with the file it came in,
  `exact_duplicate`     a repeat of an earlier row (the first is kept),
  `duplicate_key(...)`  a repeat of an earlier row's unique key (the first is kept),
  `<column>: <rule>` / `<rule>`   every row-level rule of the contract the row breaks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from platform_assets.lake.quarantine import REASON_COLUMN, SOURCE_ROW_COLUMN, Screened
from platform_assets.quality.contracts import (
    Contract,
    ContractReport,
    canonicalize,
    check_frames,
    same_layout,
    unique_keys,
)

EXACT_DUPLICATE = "exact_duplicate"
OUTSIDE_PARTITION = "outside_partition"
REASON_SEPARATOR = "; "
_NOTHING_REJECTED = pa.table(
    {SOURCE_ROW_COLUMN: pa.array([], pa.int64()), REASON_COLUMN: pa.array([], pa.string())}
)


def duplicate_key_reason(key: list[str]) -> str:
    return f"duplicate_key({', '.join(key)})"


@dataclass(frozen=True)
class Offer:
    """One partition's rows offered for screening.

    `candidates` is indexed by source row (for a landed file, the line the row is on);
    `originals`, indexed the same way, is what the quarantine keeps for rejected rows
    (the values as landed, before any transformation); `extra_reasons` maps a reason of
    the caller's to a boolean mask of the rows it rejects for it."""

    candidates: pd.DataFrame
    originals: pd.DataFrame | None = None
    extra_reasons: Mapping[str, pd.Series] = field(default_factory=dict)


@dataclass
class _Screening:
    frame: pd.DataFrame
    source: pd.DataFrame
    distinct: pd.DataFrame
    reasons: dict[Hashable, list[str]]


def _flag(reasons: dict[Hashable, list[str]], index: pd.Index, mask: np.ndarray, reason: str) -> None:
    for row in index[np.flatnonzero(mask)]:
        reasons.setdefault(row, []).append(reason)


def _prepare_all(
    offers: Mapping[str | None, Offer], contract: Contract, partition_column: str | None
) -> dict[str | None, _Screening]:
    """Each partition's rows with the reasons found so far, duplicates judged per partition.

    The rules are applied to all partitions' rows at once (duplicates keyed by partition
    too); reasons are then handed out partition by partition, in the order the module
    docstring gives."""
    if not offers:
        return {}
    for offer in offers.values():
        if not offer.candidates.index.is_unique:
            raise ValueError("candidates need a unique index naming each source row")
    frames = {p: canonicalize(offer.candidates) for p, offer in offers.items()}
    if not same_layout(frames):
        return {p: _prepare_all({p: offers[p]}, contract, partition_column)[p] for p in offers}
    sizes = [len(f) for f in frames.values()]
    starts = np.cumsum([0, *sizes])
    combined = pd.concat(list(frames.values()), ignore_index=True)
    owner = np.repeat(np.arange(len(frames)), sizes)
    tag = "__platform_partition__"
    keyed = combined.assign(**{tag: owner})
    outside: np.ndarray | None = None
    if partition_column and partition_column in combined:
        labels = np.repeat(np.array([str(p) for p in frames], dtype=object), sizes)
        outside = combined[partition_column].astype("str").to_numpy() != labels
        outside &= np.repeat(np.array([p is not None for p in frames]), sizes)
    exact = keyed.duplicated(keep="first").to_numpy()
    duplicates: list[tuple[str, np.ndarray]] = []
    distinct_rows = np.flatnonzero(~exact)
    for key in unique_keys(contract):
        if all(column in combined for column in key):
            repeated = np.zeros(len(combined), dtype=bool)
            repeated[distinct_rows] = (
                keyed.iloc[distinct_rows].duplicated(subset=[tag, *key], keep="first").to_numpy()
            )
            duplicates.append((duplicate_key_reason(key), repeated))
    out: dict[str | None, _Screening] = {}
    for position, (partition, frame) in enumerate(frames.items()):
        offer = offers[partition]
        mine = slice(starts[position], starts[position + 1])
        reasons: dict[Hashable, list[str]] = {}
        for reason, mask in offer.extra_reasons.items():
            flags = mask.reindex(frame.index, fill_value=False).to_numpy(dtype=bool, na_value=True)
            _flag(reasons, frame.index, flags, reason)
        if outside is not None:
            _flag(reasons, frame.index, outside[mine], OUTSIDE_PARTITION)
        _flag(reasons, frame.index, exact[mine], EXACT_DUPLICATE)
        for reason, mask in duplicates:
            _flag(reasons, frame.index, mask[mine], reason)
        distinct = frame[~exact[mine]] if exact[mine].any() else frame
        source = offer.originals if offer.originals is not None else offer.candidates
        out[partition] = _Screening(frame, source, distinct, reasons)
    return out


def _assemble(screening: _Screening, report: ContractReport) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows kept, as a frame (`_tables` converts every partition's together), and the
    rest of the screening's verdict."""
    reasons = screening.reasons
    for row, rules in report.row_failures().items():
        reasons.setdefault(row, []).extend(rules)
    frame = screening.frame
    if not reasons:  # the common case, kept cheap: nothing to cut, nothing to quarantine
        return frame, {"rejected": _NOTHING_REJECTED, "offered": len(frame)}
    rejected_rows = [row for row in frame.index if row in reasons]
    kept_frame = frame[~frame.index.isin(rejected_rows)]
    rejected = screening.source.loc[rejected_rows].copy()
    rejected.insert(0, SOURCE_ROW_COLUMN, list(rejected_rows))
    rejected[REASON_COLUMN] = [REASON_SEPARATOR.join(dict.fromkeys(reasons[r])) for r in rejected_rows]
    by_reason = Counter(reason for row in rejected_rows for reason in dict.fromkeys(reasons[row]))
    return kept_frame, {
        "rejected": pa.Table.from_pandas(rejected.reset_index(drop=True), preserve_index=False),
        "offered": len(frame),
        "by_reason": dict(by_reason),
    }


def _tables(frames: Mapping[str | None, pd.DataFrame]) -> dict[str | None, pa.Table]:
    """Kept frames as Arrow tables: one conversion for all partitions, then zero-copy slices."""
    if len(frames) <= 1 or not same_layout(frames):
        return {p: pa.Table.from_pandas(f, preserve_index=False) for p, f in frames.items()}
    table = pa.Table.from_pandas(pd.concat(list(frames.values()), ignore_index=True), preserve_index=False)
    out, offset = {}, 0
    for partition, frame in frames.items():
        out[partition] = table.slice(offset, len(frame))
        offset += len(frame)
    return out


def screen_partitions(
    offers: Mapping[str | None, Offer], contract: Contract, partition_column: str | None = None
) -> dict[str | None, Screened]:
    """Screen each partition on its own rows, validating all of them in one pass."""
    prepared = _prepare_all(offers, contract, partition_column)
    reports = check_frames(contract, {p: screening.distinct for p, screening in prepared.items()})
    assembled = {p: _assemble(prepared[p], reports[p][1]) for p in offers}
    kept = _tables({p: frame for p, (frame, _) in assembled.items()})
    return {p: Screened(kept=kept[p], **verdict) for p, (_, verdict) in assembled.items()}


def screen(
    candidates: pd.DataFrame,
    contract: Contract,
    *,
    partition: str | None = None,
    partition_column: str | None = None,
    originals: pd.DataFrame | None = None,
    extra_reasons: Mapping[str, pd.Series] | None = None,
) -> Screened:
    """Split `candidates` into rows that keep every row rule of `contract` and rows that do not."""
    offer = Offer(candidates, originals, extra_reasons or {})
    return screen_partitions({partition: offer}, contract, partition_column)[partition]
