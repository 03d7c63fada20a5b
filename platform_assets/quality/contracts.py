"""Pandera contracts as the platform reads them.

One `DataFrameModel` per asset is the single source of three things: the column
schema the UI shows (`dagster/column_schema`), the rules the blocking `contract`
check enforces, and the row-level rules that send rows to quarantine. Docs, checks
and quarantine therefore cannot drift apart.

Validation always runs on the *canonical* pandas form of a table: Arrow integers as
nullable `Int64`, floats as `Float64`, booleans as `boolean`, strings as `str`,
timestamps unchanged. A frame an asset is about to write and the Parquet file read
back later validate identically, whichever engine (pandas, DuckDB) produced them."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa

from platform_assets.governance import classification

Contract = type[pandera.DataFrameModel]

COLUMN_SCHEMA_KEY = "dagster/column_schema"
CONTRACT_KEY = "platform/contract"
# Columns a cross-column rule reads: `@pa.dataframe_check(statistics={COLUMNS_STATISTIC: [...]})`.
COLUMNS_STATISTIC = "columns"
MISSING_COLUMN = "column_in_dataframe"
UNEXPECTED_COLUMN = "column_in_schema"
UNIQUENESS_CHECKS = frozenset({"field_uniqueness", "multiple_fields_uniqueness"})
CASE_COLUMNS = ("rule", "column", "row", "value")

_TYPE_NAMES = {"Int64": "int64", "Float64": "float64", "boolean": "bool", "str": "string"}


UTC_ALIASES = frozenset({"UTC", "Etc/UTC", "Z", "+00:00", "utc"})


def _canonical_type(arrow_type: pa.DataType) -> Any:
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz in UTC_ALIASES:
        return pd.DatetimeTZDtype(unit=arrow_type.unit, tz="UTC")  # DuckDB writes Etc/UTC
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_floating(arrow_type):
        return pd.Float64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None


def canonical_frame(table: pa.Table) -> pd.DataFrame:
    """The pandas frame contracts validate: nullable numeric and boolean types, UTC spelled one way."""
    return table.to_pandas(types_mapper=_canonical_type)


def canonical_frames(tables: Mapping[Hashable, pa.Table]) -> dict[Hashable, pd.DataFrame]:
    """`canonical_frame` of many tables (a backfill's partitions): one conversion to pandas.

    Tables of one schema are converted together and split again; each frame has its own
    0-based index, as converting it alone gives."""
    if len(tables) <= 1 or len({t.schema.remove_metadata() for t in tables.values()}) > 1:
        return {key: canonical_frame(table) for key, table in tables.items()}
    combined = canonical_frame(pa.concat_tables([t.replace_schema_metadata(None) for t in tables.values()]))
    out: dict[Hashable, pd.DataFrame] = {}
    offset = 0
    for key, table in tables.items():
        frame = combined.iloc[offset : offset + table.num_rows]
        out[key] = frame.set_axis(pd.RangeIndex(table.num_rows))
        offset += table.num_rows
    return out


def _is_canonical(dtype: Any) -> bool:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return str(dtype.tz) == "UTC"
    return isinstance(dtype, pd.Int64Dtype | pd.Float64Dtype | pd.BooleanDtype | pd.StringDtype)


def canonicalize(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as it will be stored and read back, index kept (it names source rows)."""
    if all(_is_canonical(dtype) for dtype in frame.dtypes):
        return frame
    out = canonical_frame(pa.Table.from_pandas(frame, preserve_index=False))
    out.index = frame.index
    return out


def type_name(dtype: Any) -> str:
    """The logical type the UI shows: what a reader gets from the Parquet file."""
    text = str(dtype)
    if text.startswith("string") or text == "str":
        return "string"
    if text.startswith("datetime64"):
        return text.replace("datetime64", "timestamp")
    return _TYPE_NAMES.get(text, text)


def _check_label(check: pandera.Check) -> str:
    return check.error or check.name or "check"


def column_schema(contract: Contract) -> dg.TableSchema:
    """The contract as Dagster's column schema, constraints included, so the UI documents the rules."""
    schema = contract.to_schema()
    tags = classification.column_tags(contract)
    columns = [
        dg.TableColumn(
            name=name,
            type=type_name(column.dtype),
            description=column.description,
            tags=tags[name],
            constraints=dg.TableColumnConstraints(
                nullable=column.nullable,
                unique=column.unique,
                other=[_check_label(check) for check in column.checks],
            ),
        )
        for name, column in schema.columns.items()
    ]
    table_rules = [f"unique ({', '.join(key)})" for key in unique_keys(contract) if len(key) > 1]
    table_rules += [f"{check.name}: {check.description}" for check in schema.checks]
    return dg.TableSchema(columns=columns, constraints=dg.TableConstraints(other=table_rules))


def contract_metadata(contract: Contract) -> dict[str, Any]:
    """Definition metadata an asset carries for its contract."""
    return {
        COLUMN_SCHEMA_KEY: column_schema(contract),
        CONTRACT_KEY: f"{contract.__module__}.{contract.__qualname__}",
        **classification.definition_metadata(contract),
    }


def contract_columns(contract: Contract) -> list[str]:
    return list(contract.to_schema().columns)


def unique_keys(contract: Contract) -> list[list[str]]:
    """Every key the contract declares unique: single columns and the table-level key."""
    schema = contract.to_schema()
    keys = [[name] for name, column in schema.columns.items() if column.unique]
    if schema.unique:
        keys.append([schema.unique] if isinstance(schema.unique, str) else list(schema.unique))
    return keys


@dataclass(frozen=True)
class ContractReport:
    """Pandera's failure cases, one per (rule, row): what the check reports and quarantine uses.

    `row` is the frame's index label (for landed files, the file line), None for
    failures of the table as a whole (a missing column, a wrong type)."""

    cases: pd.DataFrame

    @classmethod
    def empty(cls) -> ContractReport:
        return cls(_empty_cases())

    @property
    def passed(self) -> bool:
        return self.cases.empty

    @property
    def failure_count(self) -> int:
        return len(self.cases)

    def failed_rules(self) -> dict[str, int]:
        if self.cases.empty:
            return {}
        return {str(k): int(v) for k, v in self.cases["rule"].value_counts().sort_index().items()}

    def failing_rows(self) -> int:
        if self.cases.empty:
            return 0
        return int(self.cases["row"].dropna().nunique())

    def row_failures(self) -> dict[Hashable, list[str]]:
        """Rules broken per row, uniqueness rules left out (quarantine keeps the first of a key)."""
        rows: dict[Hashable, list[str]] = {}
        for rule, row in self.cases[["rule", "row"]].itertuples(index=False):
            if row is None or pd.isna(row) or rule.rsplit(": ", 1)[-1] in UNIQUENESS_CHECKS:
                continue
            rows.setdefault(row, [])
            if rule not in rows[row]:
                rows[row].append(rule)
        return rows

    def sample(self, limit: int) -> list[dict[str, Any]]:
        """The first `limit` failure cases as JSON-safe records."""
        if self.cases.empty:
            return []
        return [
            {
                "rule": str(rule),
                "column": None if column is None else str(column),
                "row": _json_row(row),
                "value": None if value is None else str(value)[:200],
            }
            for rule, column, row, value in self.cases.head(limit)[list(CASE_COLUMNS)].itertuples(index=False)
        ]

    def describe(self, limit: int = 5, where: Callable[[Any], str] = lambda row: f"row {row}") -> str:
        """One line a person can act on: which columns, which rules, an example each.

        `where` names a row for the reader: a landed file says "line 12", a table "row 10"."""
        if self.passed:
            return "every rule holds"
        parts = []
        for rule, group in self.cases.groupby("rule", sort=True):
            first = group.iloc[0]
            if rule == MISSING_COLUMN:
                parts.append(f"missing column(s) {sorted(group['value'].astype(str))}")
            elif rule == UNEXPECTED_COLUMN:
                parts.append(f"unexpected column(s) {sorted(group['value'].astype(str))}")
            elif first["row"] is None or pd.isna(first["row"]):
                parts.append(f"{rule} (found {first['value']})")
            else:
                example = f"e.g. {first['value']!r} at {where(_json_row(first['row']))}"
                parts.append(f"{rule}: {len(group)} row(s), {example}")
        shown = "; ".join(parts[:limit])
        more = f"; and {len(parts) - limit} more rule(s)" if len(parts) > limit else ""
        return shown + more


def _json_row(row: Any) -> int | str | None:
    if row is None or (not isinstance(row, str) and pd.isna(row)):
        return None
    return int(row) if isinstance(row, int | np.integer) else str(row)


_EMPTY_CASES = pd.DataFrame({name: pd.Series(dtype="object") for name in CASE_COLUMNS})


def _empty_cases() -> pd.DataFrame:
    return _EMPTY_CASES  # shared: reports never modify their cases


def _frame_rule_columns(schema: pandera.DataFrameSchema) -> dict[str, list[str]]:
    columns = {
        check.name: list((check.statistics or {}).get(COLUMNS_STATISTIC, [])) for check in schema.checks
    }
    if schema.unique:
        columns["multiple_fields_uniqueness"] = (
            [schema.unique] if isinstance(schema.unique, str) else list(schema.unique)
        )
    return columns


def _normalize(failure_cases: pd.DataFrame, schema: pandera.DataFrameSchema) -> pd.DataFrame:
    """Pandera's failure cases as one row per (rule, row).

    Pandera reports a failing cross-column rule once per column of the frame; this
    keeps the columns the rule reads and joins their values, so a failing row counts
    once and shows the values that broke the rule."""
    involved = _frame_rule_columns(schema)
    records: list[dict[str, Any]] = []
    grouped: dict[tuple[str, Hashable], list[str]] = {}
    coerced = {
        (c, i)
        for c, i, check in failure_cases[["column", "index", "check"]].itertuples(index=False)
        if str(check).startswith("coerce_dtype")
    }
    for context, column, check, value, index in failure_cases[
        ["schema_context", "column", "check", "failure_case", "index"]
    ].itertuples(index=False):
        check = str(check)
        row = None if index is None or (not isinstance(index, str) and pd.isna(index)) else index
        if check in (MISSING_COLUMN, UNEXPECTED_COLUMN):
            records.append({"rule": check, "column": str(value), "row": None, "value": str(value)})
        elif context == "Column" or row is None:
            if check.startswith("dtype(") and (column, index) in coerced:
                continue  # the coercion failure already says it
            rule = f"{column}: {check}" if context == "Column" else check
            records.append({"rule": rule, "column": column, "row": row, "value": value})
        elif not involved.get(check) or column in involved[check]:
            grouped.setdefault((check, row), []).append(f"{column}={value}")
    for (check, row), values in grouped.items():
        records.append({"rule": check, "column": None, "row": row, "value": ", ".join(values)})
    if not records:
        return _empty_cases()
    return pd.DataFrame.from_records(records, columns=list(CASE_COLUMNS))


def check_frame(contract: Contract, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, ContractReport]:
    """Validate lazily (every rule, not just the first to fail); the validated (coerced) frame
    when every rule holds, else None, and the report either way."""
    schema = contract.to_schema()
    try:
        validated = schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        return None, ContractReport(_normalize(errors.failure_cases, schema))
    return validated, ContractReport.empty()


def validate(contract: Contract, frame: pd.DataFrame) -> ContractReport:
    return check_frame(contract, frame)[1]


def _row_wise(schema: pandera.DataFrameSchema) -> bool:
    """Whether every table-level rule is a cross-column rule on single rows (it names its columns)."""
    return all(COLUMNS_STATISTIC in (check.statistics or {}) for check in schema.checks)


def same_layout(frames: Mapping[Hashable, pd.DataFrame]) -> bool:
    """Whether every frame has the same columns with the same types (one batch can hold them)."""
    first = next(iter(frames.values()))
    layout = (list(first.columns), list(first.dtypes))
    return all((list(f.columns), list(f.dtypes)) == layout for f in frames.values())


def _duplicate_cases(
    contract: Contract, combined: pd.DataFrame, starts: np.ndarray, indexes: list[pd.Index]
) -> list[list[dict[str, Any]]]:
    """Uniqueness failures per frame as pandera reports them (every row of a repeated key).

    Keys are unique within a frame, not across frames: one `duplicated` over the
    concatenation with the frame's number as part of the key, instead of one per frame."""
    out: list[list[dict[str, Any]]] = [[] for _ in indexes]
    owner = np.repeat(np.arange(len(indexes)), np.diff(starts))
    for key in unique_keys(contract):
        if not all(column in combined for column in key):
            continue
        keyed = combined[key].assign(_frame=owner)
        flagged = np.flatnonzero(keyed.duplicated(subset=["_frame", *key], keep=False).to_numpy())
        if not len(flagged):
            continue
        single = len(key) == 1
        rule = f"{key[0]}: field_uniqueness" if single else "multiple_fields_uniqueness"
        rows = combined[key].iloc[flagged].itertuples(index=False)
        for position, values in zip(flagged, rows, strict=True):
            frame = int(owner[position])
            value = values[0] if single else ", ".join(f"{c}={v}" for c, v in zip(key, values, strict=True))
            row = indexes[frame][int(position - starts[frame])]
            column = key[0] if single else None
            out[frame].append({"rule": rule, "column": column, "row": row, "value": value})
    return out


def check_frames(
    contract: Contract, frames: Mapping[Hashable, pd.DataFrame]
) -> dict[Hashable, tuple[pd.DataFrame | None, ContractReport]]:
    """`check_frame` for many frames (a backfill's partitions) in one pandera pass.

    Pandera's cost is mostly per call, not per row, so one pass over the concatenation
    is what keeps a year-long backfill affordable. Row rules do not depend on other
    rows, so the failures are the same as frame by frame; keys are unique per frame,
    not across frames, so uniqueness is checked per frame. Frames with different
    columns or types, and contracts with table-level rules (a dataframe check that
    does not name its columns), are validated one by one."""
    schema = contract.to_schema()
    if len(frames) <= 1 or not _row_wise(schema) or not same_layout(frames):
        return {key: check_frame(contract, frame) for key, frame in frames.items()}
    relaxed = schema.update_columns({n: {"unique": False} for n, c in schema.columns.items() if c.unique})
    relaxed.unique = None
    # A flat index over the concatenation (pandera reports a MultiIndex row as text);
    # `starts` maps a row back to its frame and position.
    starts = np.cumsum([0, *(len(f) for f in frames.values())])
    combined = pd.concat(list(frames.values()), ignore_index=True)
    try:
        validated = relaxed.validate(combined, lazy=True)
        cases = _empty_cases()
    except pandera.errors.SchemaErrors as errors:
        validated, cases = None, _normalize(errors.failure_cases, relaxed)
    if cases["row"].isna().any():  # a failure of the table as a whole: attribute it frame by frame
        return {key: check_frame(contract, frame) for key, frame in frames.items()}
    owner = np.searchsorted(starts, cases["row"].to_numpy(dtype="int64"), side="right") - 1
    duplicates = _duplicate_cases(contract, combined, starts, [f.index for f in frames.values()])
    # Cases grouped by frame once; a frame with none (most of a backfill) costs no pandas work.
    failing = set(owner.tolist()) | {i for i, found in enumerate(duplicates) if found}
    typed = _typed(relaxed, contract, frames, starts, failing, validated)
    out: dict[Hashable, tuple[pd.DataFrame | None, ContractReport]] = {}
    for position, (key, frame) in enumerate(frames.items()):
        if position not in failing:
            out[key] = (typed[position], ContractReport.empty())
            continue
        mine = cases.loc[owner == position].copy()
        mine["row"] = [frame.index[int(row) - starts[position]] for row in mine["row"]]
        records = mine.to_dict("records") + duplicates[position]
        out[key] = (None, ContractReport(pd.DataFrame.from_records(records, columns=list(CASE_COLUMNS))))
    return out


def _typed(
    relaxed: pandera.DataFrameSchema,
    contract: Contract,
    frames: Mapping[Hashable, pd.DataFrame],
    starts: np.ndarray,
    failing: set[int],
    validated: pd.DataFrame | None,
) -> dict[int, pd.DataFrame]:
    """The validated (coerced) frame of each frame that passed, by position, its index kept.

    When some frame failed, pandera returned nothing for the concatenation: the passing
    frames are validated again together (they pass: every rule left is a row rule), one
    pass instead of one per frame."""
    positions = [i for i in range(len(frames)) if i not in failing]
    originals = list(frames.values())
    bounds = {i: (starts[i], starts[i + 1]) for i in positions}
    if validated is None and positions:
        try:
            validated = relaxed.validate(
                pd.concat([originals[i] for i in positions], ignore_index=True), lazy=True
            )
        except pandera.errors.SchemaErrors:  # not expected; frame by frame gives the exact answer
            return {i: check_frame(contract, originals[i])[0] for i in positions}
        offsets = np.cumsum([0, *(len(originals[i]) for i in positions)])
        bounds = {i: (offsets[n], offsets[n + 1]) for n, i in enumerate(positions)}
    return {
        i: validated.iloc[bounds[i][0] : bounds[i][1]].set_axis(originals[i].index)  # type: ignore[union-attr]
        for i in positions
    }
