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

import pandas as pd
import pyarrow as pa

from platform_assets.lake.quarantine import REASON_COLUMN, SOURCE_ROW_COLUMN, Screened
from platform_assets.quality.contracts import (
    Contract,
    ContractReport,
    canonicalize,
    check_frames,
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


def _prepare(
    offer: Offer, contract: Contract, partition: str | None, partition_column: str | None
) -> _Screening:
    if not offer.candidates.index.is_unique:
        raise ValueError("candidates need a unique index naming each source row")
    frame = canonicalize(offer.candidates)
    reasons: dict[Hashable, list[str]] = {}

    def reject(mask: pd.Series, reason: str) -> None:
        for row in mask.index[mask.to_numpy(dtype=bool, na_value=True)]:
            reasons.setdefault(row, []).append(reason)

    for reason, mask in offer.extra_reasons.items():
        reject(mask.reindex(frame.index, fill_value=False), reason)
    if partition is not None and partition_column and partition_column in frame:
        reject(frame[partition_column].astype("str") != partition, OUTSIDE_PARTITION)
    exact = frame.duplicated(keep="first")
    reject(exact, EXACT_DUPLICATE)
    distinct = frame[~exact]
    for key in unique_keys(contract):
        if all(column in distinct for column in key):
            repeated = distinct.duplicated(subset=key, keep="first").reindex(frame.index, fill_value=False)
            reject(repeated, duplicate_key_reason(key))
    source = offer.originals if offer.originals is not None else offer.candidates
    return _Screening(frame, source, distinct, reasons)


def _assemble(screening: _Screening, report: ContractReport) -> Screened:
    reasons = screening.reasons
    for row, rules in report.row_failures().items():
        reasons.setdefault(row, []).extend(rules)
    frame = screening.frame
    if not reasons:  # the common case, kept cheap: nothing to cut, nothing to quarantine
        kept = pa.Table.from_pandas(frame, preserve_index=False)
        return Screened(kept=kept, rejected=_NOTHING_REJECTED, offered=len(frame))
    rejected_rows = [row for row in frame.index if row in reasons]
    kept_frame = frame[~frame.index.isin(rejected_rows)]
    rejected = screening.source.loc[rejected_rows].copy()
    rejected.insert(0, SOURCE_ROW_COLUMN, list(rejected_rows))
    rejected[REASON_COLUMN] = [REASON_SEPARATOR.join(dict.fromkeys(reasons[r])) for r in rejected_rows]
    by_reason = Counter(reason for row in rejected_rows for reason in dict.fromkeys(reasons[row]))
    return Screened(
        kept=pa.Table.from_pandas(kept_frame, preserve_index=False),
        rejected=pa.Table.from_pandas(rejected.reset_index(drop=True), preserve_index=False),
        offered=len(frame),
        by_reason=dict(by_reason),
    )


def screen_partitions(
    offers: Mapping[str | None, Offer], contract: Contract, partition_column: str | None = None
) -> dict[str | None, Screened]:
    """Screen each partition on its own rows, validating all of them in one pass."""
    prepared = {p: _prepare(offer, contract, p, partition_column) for p, offer in offers.items()}
    reports = check_frames(contract, {p: screening.distinct for p, screening in prepared.items()})
    return {p: _assemble(prepared[p], reports[p][1]) for p in offers}


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
