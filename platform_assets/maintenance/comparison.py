"""How a candidate version differs from the published one: the evidence promotion and canaries share.

Both questions are the same: "if readers saw this version instead, what would change
for them?". The answer has four parts, each sized so a tolerance can judge it:
schema, row counts, rows added/removed/changed by the contract's key, and per-column
distributions (null rate, mean, quantiles) measured in standard deviations of the
published column, so one threshold fits delays in minutes and rates in [0, 1]."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from platform_assets.maintenance.config import Tolerance

# Values closer than this (relative) are the same number printed by different code.
REL_TOLERANCE = 1e-9
ABS_TOLERANCE = 1e-12


@dataclass(frozen=True)
class ColumnShift:
    """One column's distribution in the published and the candidate version."""

    column: str
    null_rate: tuple[float, float]
    mean: tuple[float | None, float | None] = (None, None)
    quantiles: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    # Largest move of the mean or a quantile, in published standard deviations.
    shift: float = 0.0

    @property
    def null_rate_change(self) -> float:
        return abs(self.null_rate[1] - self.null_rate[0])


@dataclass(frozen=True)
class Comparison:
    """Published (`before`) against candidate (`after`) for one asset partition."""

    asset: str
    partition: str | None
    rows_before: int
    rows_after: int
    key: list[str]
    schema_added: list[str]
    schema_removed: list[str]
    schema_retyped: dict[str, tuple[str, str]]
    added: int
    removed: int
    changed: int
    changed_by_column: dict[str, int]
    columns: list[ColumnShift]

    @property
    def row_count_change(self) -> float:
        return abs(self.rows_after - self.rows_before) / max(self.rows_before, 1)

    @property
    def changed_row_share(self) -> float:
        return (self.added + self.removed + self.changed) / max(self.rows_before, self.rows_after, 1)

    @property
    def identical(self) -> bool:
        return not (
            self.schema_added or self.schema_removed or self.schema_retyped
            or self.added or self.removed or self.changed or self.rows_before != self.rows_after
        )  # fmt: skip

    def violations(self, tolerance: Tolerance) -> list[str]:
        """Each way this comparison exceeds `tolerance`, worded for a person."""
        found = []
        if not tolerance.allow_schema_changes:
            if self.schema_added:
                found.append(f"columns added: {', '.join(self.schema_added)}")
            if self.schema_removed:
                found.append(f"columns removed: {', '.join(self.schema_removed)}")
            for name, (old, new) in self.schema_retyped.items():
                found.append(f"column {name} changed type {old} -> {new}")
        if self.row_count_change > tolerance.max_row_count_change:
            found.append(
                f"row count {self.rows_before} -> {self.rows_after} ({self.row_count_change:.2%}; "
                f"allowed {tolerance.max_row_count_change:.2%})"
            )
        if self.changed_row_share > tolerance.max_changed_row_share:
            columns = ", ".join(f"{c} ({n})" for c, n in self.changed_by_column.items() if n)
            key = ", ".join(self.key) or "whole row"
            found.append(
                f"{self.added} added, {self.removed} removed, {self.changed} changed of "
                f"{max(self.rows_before, self.rows_after)} rows by key ({key}) "
                f"({self.changed_row_share:.2%}; allowed {tolerance.max_changed_row_share:.2%})"
                + (f"; changed columns: {columns}" if columns else "")
            )
        for shift in self.columns:
            if shift.null_rate_change > tolerance.max_null_rate_change:
                found.append(
                    f"{shift.column}: null rate {shift.null_rate[0]:.2%} -> {shift.null_rate[1]:.2%} "
                    f"(allowed change {tolerance.max_null_rate_change:.2%})"
                )
            if shift.shift > tolerance.max_distribution_shift:
                found.append(
                    f"{shift.column}: mean {_fmt(shift.mean[0])} -> {_fmt(shift.mean[1])}, "
                    f"moved {shift.shift:.3g} standard deviations "
                    f"(allowed {tolerance.max_distribution_shift:g})"
                )
        return found

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["row_count_change"] = self.row_count_change
        out["changed_row_share"] = self.changed_row_share
        out["identical"] = self.identical
        return _finite(out)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such values become None."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _numeric(series: pd.Series) -> pd.Series | None:
    """The column as floats when it is numeric or boolean; None for text and times."""
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return pd.to_numeric(series.astype("Float64"), errors="coerce").astype(float)
    return None


def _stat(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def column_shift(name: str, before: pd.Series, after: pd.Series, quantiles: Sequence[float]) -> ColumnShift:
    """Null rate always; mean and quantiles for numeric columns, with their largest move."""
    null_rate = (
        float(before.isna().mean()) if len(before) else 0.0,
        float(after.isna().mean()) if len(after) else 0.0,
    )
    b, a = _numeric(before), _numeric(after)
    if b is None or a is None:
        return ColumnShift(name, null_rate)
    b, a = b.dropna(), a.dropna()
    mean = (_stat(b.mean()) if len(b) else None, _stat(a.mean()) if len(a) else None)
    qs = {
        f"p{round(q * 100):02d}": (
            _stat(b.quantile(q)) if len(b) else None,
            _stat(a.quantile(q)) if len(a) else None,
        )
        for q in quantiles
    }
    std = float(b.std(ddof=0)) if len(b) > 1 else 0.0
    # A constant published column has no spread to measure in: use its magnitude instead.
    scale = std if std > 0 else max(abs(mean[0] or 0.0), 1.0)
    moves = [
        abs(new - old) / scale if old is not None and new is not None else (0.0 if old == new else math.inf)
        for old, new in [mean, *qs.values()]
    ]
    return ColumnShift(name, null_rate, mean, qs, max(moves, default=0.0))


def _same(before: pd.Series, after: pd.Series) -> np.ndarray:
    """Element-wise equality with nulls equal to nulls and floats equal within rounding."""
    b_null, a_null = before.isna().to_numpy(), after.isna().to_numpy()
    b, a = _numeric(before), _numeric(after)
    if b is not None and a is not None:
        close = np.isclose(
            b.fillna(0).to_numpy(), a.fillna(0).to_numpy(), rtol=REL_TOLERANCE, atol=ABS_TOLERANCE
        )
    else:
        close = before.astype(str).to_numpy() == after.astype(str).to_numpy()
    return np.where(b_null | a_null, b_null & a_null, close)


def _row_hashes(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame.astype(str), index=False)


def compare_tables(
    asset: str,
    partition: str | None,
    before: pa.Table,
    after: pa.Table,
    key: Sequence[str],
    quantiles: Sequence[float],
) -> Comparison:
    """Compare two versions of one partition; `key` identifies a row in both (empty: whole rows)."""
    before_types = {f.name: str(f.type) for f in before.schema}
    after_types = {f.name: str(f.type) for f in after.schema}
    common = [c for c in after.column_names if c in before_types]
    retyped = {c: (before_types[c], after_types[c]) for c in common if before_types[c] != after_types[c]}
    b = before.select(common).to_pandas()
    a = after.select(common).to_pandas()
    key = [c for c in key if c in common] if all(c in common for c in key) else []
    changed_by_column: dict[str, int] = {}
    if key:
        b_keys = b.drop_duplicates(subset=key).set_index(key)
        a_keys = a.drop_duplicates(subset=key).set_index(key)
        shared = b_keys.index.intersection(a_keys.index)
        added = len(a_keys.index.difference(b_keys.index))
        removed = len(b_keys.index.difference(a_keys.index))
        b_shared, a_shared = b_keys.loc[shared], a_keys.loc[shared]
        differs = np.zeros(len(shared), dtype=bool)
        for column in (c for c in common if c not in key):
            column_differs = ~_same(b_shared[column], a_shared[column])
            changed_by_column[column] = int(column_differs.sum())
            differs |= column_differs
        changed = int(differs.sum())
    else:  # no usable key: rows compared as a multiset of whole rows
        b_counts = _row_hashes(b).value_counts()
        a_counts = _row_hashes(a).value_counts()
        delta = a_counts.sub(b_counts, fill_value=0)
        added, removed, changed = int(delta[delta > 0].sum()), int(-delta[delta < 0].sum()), 0
    columns = [column_shift(c, b[c], a[c], quantiles) for c in common]
    return Comparison(
        asset=asset,
        partition=partition,
        rows_before=before.num_rows,
        rows_after=after.num_rows,
        key=list(key),
        schema_added=[c for c in after.column_names if c not in before_types],
        schema_removed=[c for c in before.column_names if c not in after_types],
        schema_retyped=retyped,
        added=added,
        removed=removed,
        changed=changed,
        changed_by_column=dict(sorted(changed_by_column.items(), key=lambda kv: -kv[1])),
        columns=columns,
    )


def biggest_shifts(comparisons: Sequence[Comparison], limit: int = 8) -> list[tuple[str, ColumnShift]]:
    """The columns whose distributions moved most, for the report's plot."""
    shifts = [
        (f"{c.asset} {c.partition or ''}".strip() + f": {s.column}", s)
        for c in comparisons
        for s in c.columns
        if s.shift > 0
    ]
    return sorted(shifts, key=lambda item: -min(item[1].shift, 1e12))[:limit]


def row_keys(assets: Sequence[Any]) -> dict[str, list[str]]:
    """Each asset's row identity, from the contract its definition carries (`platform/contract`).

    The contract's table-level unique key when it has one (e.g. `date` plus a code), else its first
    unique column (`flight_id`); assets without a contract compare whole rows."""
    from importlib import import_module

    from platform_assets.quality.contracts import CONTRACT_KEY, unique_keys

    found: dict[str, list[str]] = {}
    for asset in assets:
        for spec in getattr(asset, "specs", []):
            name = spec.metadata.get(CONTRACT_KEY)
            if not name:
                continue
            module, _, qualname = str(name).rpartition(".")
            contract = getattr(import_module(module), qualname)
            keys = unique_keys(contract)
            chosen = next((k for k in keys if len(k) > 1), keys[0] if keys else [])
            found["/".join(spec.key.path)] = list(chosen)
    return found
