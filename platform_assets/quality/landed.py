"""Landed files read against the source's contract, or refused with a reason that names the file.

A raw contract says what a source promises: which columns, each readable as which
type. Every value is read as text first and then coerced by pandera, so a renamed,
missing, extra or retyped column is reported by name, with the offending value and
its line, instead of surfacing later as a confusing error in a transformation.

Rows are named by the line of the landed file they start on (line 1 is the header),
everywhere: the typed frame's index is that line, so contract failures, quarantine's
`source_row` and every message point at the same place a person opens in an editor."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from platform_assets.lake.run_stash import RunStash
from platform_assets.quality.contracts import (
    CASE_COLUMNS,
    MISSING_COLUMN,
    UNEXPECTED_COLUMN,
    Contract,
    ContractReport,
    check_frame,
    check_frames,
)

HEADER_LINES = 1
RULE_UTF8 = "utf8_text"
RULE_NOT_EMPTY = "has_header"
RULE_COMPLETE = "complete_records"
RULE_CSV = "well_formed_csv"
RULE_CONTRACT = "source_contract"
RULE_FINITE = "finite_number"
# Spellings a float parser accepts for a value that is not a number; the nullable float
# type reads them as missing, so they must be caught in the text.
_NOT_A_NUMBER = frozenset({"nan", "+nan", "-nan"})
# Typed frames kept for one more reader in the same run: the raw audit parses every
# landed file it judges, and the curated step of the same run parses the same bytes
# against the same contract. (contract, SHA-256 of the bytes, source) -> frame.
_held: RunStash[pd.DataFrame] = RunStash()


class LandedFileError(ValueError):
    """A landed file that cannot be read as its source promises.

    `rule` names the promise it breaks; `report` carries pandera's failure cases when
    the file parsed but broke the contract."""

    def __init__(self, message: str, rule: str, report: ContractReport | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.report = report


def line_of(row: Any) -> str:
    """How a message names a row of a landed file: its index is already the file line."""
    return f"line {int(row)}"


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise LandedFileError(
            f"{source}: not UTF-8 text: byte 0x{data[error.start]:02x} on line {line}, column {column} "
            f"(character position; offset {error.start}) cannot be decoded",
            RULE_UTF8,
        ) from None


def _field_at_limit(line: str, limit: int) -> int:
    """The 1-based field of a physical CSV line that first grows past `limit` characters.

    The csv module says a field is too large but not which; this walks the line once,
    honouring quotes, to name it."""
    field, size, quoted = 1, 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            field, size = field + 1, 0
            continue
        size += 1
        if size > limit:
            break
    return field


def _column_name(header: list[str], field: int) -> str:
    return f" ({header[field - 1]})" if 0 < field <= len(header) else ""


def _record_lines(text: str, source: str) -> tuple[list[str], list[int]]:
    """The header, and the line each data record starts on; refuses a file whose records
    do not fit the header.

    Every record has the header's field count, and the file ends where a record ends:
    pandas pads a short last row with nulls, so a file cut off mid-transfer would pass
    as valid data with one odd row; the shape is checked before pandas sees it. Blank
    lines are skipped, as pandas skips them, so the list aligns with pandas' rows."""
    lines = text.split("\n")
    if not text.endswith("\n"):
        raise LandedFileError(
            f"{source}: line {len(lines)} does not end with a newline; the file looks truncated",
            RULE_COMPLETE,
        )
    reader = csv.reader(io.StringIO(text))
    starts: list[int] = []
    try:
        header = next(reader)
        quoted = '"' in text  # only a quoted field can hold a line break
        for record in reader:
            start = reader.line_num - sum(f.count("\n") for f in record) if quoted else reader.line_num
            if not record:
                continue
            if len(record) != len(header):
                field = min(len(record), len(header)) + 1
                what = "an extra" if len(record) > len(header) else "a missing"
                raise LandedFileError(
                    f"{source}: line {start} has {len(record)} fields but the header has {len(header)} "
                    f"({what} field at column {field}{_column_name(header, field)}); "
                    "the file looks truncated or malformed",
                    RULE_COMPLETE,
                )
            starts.append(start)
    except csv.Error as error:
        line = reader.line_num
        where = f"line {line}"
        if "field larger than field limit" in str(error) and 0 < line <= len(lines):
            field = _field_at_limit(lines[line - 1], csv.field_size_limit())
            header_fields = next(csv.reader([lines[0]]))
            where += f", column {field}{_column_name(header_fields, field)}"
        raise LandedFileError(f"{source}: {where}: not a well-formed CSV ({error})", RULE_CSV) from None
    return header, starts


def _cells(data: bytes, text: str, header: list[str]) -> pd.DataFrame:
    """Every cell of a file whose records fit its header, as text; only an empty cell is missing.

    Arrow's reader, told every column is text: twice as fast as pandas' on daily files,
    and the same frame. pandas reads the rare header Arrow would read otherwise (a
    byte-order mark, a blank or repeated name, which pandas renames)."""
    if text.startswith("\ufeff") or "" in header or len(set(header)) < len(header):
        return pd.read_csv(io.StringIO(text), dtype="str", keep_default_na=False, na_values=[""])
    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values='"' in text),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return table.to_pandas()


def _text_frame(data: bytes, source: str) -> pd.DataFrame:
    """Every cell as text, indexed by file line, after the checks that need the raw bytes."""
    text = _decode(data, source)
    if not text.strip():
        raise LandedFileError(f"{source}: line 1: the file is empty (no header row)", RULE_NOT_EMPTY)
    header, starts = _record_lines(text, source)
    try:
        frame = _cells(data, text, header)
    except (pd.errors.ParserError, pa.ArrowInvalid) as error:
        raise LandedFileError(f"{source}: not a well-formed CSV ({error})", RULE_CSV) from None
    if len(starts) == len(frame):
        frame.index = pd.Index(starts, dtype="int64")
    else:  # cannot happen for a file the record check accepted; keep lines approximate, not wrong-typed
        frame.index = pd.RangeIndex(HEADER_LINES + 1, HEADER_LINES + 1 + len(frame))
    return frame


def _float_columns(contract: Contract) -> list[str]:
    schema = contract.to_schema()
    return [name for name, column in schema.columns.items() if "float" in str(column.dtype).lower()]


def _non_finite(contract: Contract, texts: Mapping[Hashable, pd.DataFrame]) -> dict[Hashable, pd.DataFrame]:
    """Per file, the cells of float columns that parse as a number but are not a finite one.

    `inf`, `-Infinity`, `1e999` (overflows to infinity) and `nan` all read as floats; the
    nullable float type turns `nan` into a missing value, so a spelled-out non-number
    would be indistinguishable from an empty cell. A source promising a number breaks
    its promise with each of them. One pass over all the files' cells; only files with
    such cells are in the result."""
    keys = list(texts)
    frames = list(texts.values())
    records: dict[Hashable, list[dict[str, Any]]] = {}
    for column in _float_columns(contract):
        held = [i for i, f in enumerate(frames) if column in f]  # a file without it fails elsewhere
        if not held:
            continue
        cells = pd.concat([frames[i][column] for i in held], ignore_index=True)
        where = np.repeat(np.array(held), [len(frames[i]) for i in held])
        rows = np.concatenate([frames[i].index.to_numpy(dtype="int64") for i in held])
        present = cells.notna().to_numpy()
        values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        # Only a cell that is there but did not give a finite number can be a spelled-out non-number.
        suspect = np.flatnonzero(present & ~np.isfinite(values))
        if not len(suspect):
            continue
        text = cells.iloc[suspect]
        spelled = text.str.strip().str.lower().isin(_NOT_A_NUMBER).to_numpy(dtype=bool)
        bad = suspect[np.isinf(values[suspect]) | spelled]
        for position in bad:
            record = {"rule": f"{column}: {RULE_FINITE}", "column": column, "row": int(rows[position])}
            records.setdefault(keys[int(where[position])], []).append(
                {**record, "value": cells.iloc[position]}
            )
    return {
        key: pd.DataFrame.from_records(found, columns=list(CASE_COLUMNS)) for key, found in records.items()
    }


def _with_non_finite(
    extra: pd.DataFrame | None, typed: pd.DataFrame | None, report: ContractReport
) -> tuple[pd.DataFrame | None, ContractReport]:
    if extra is None or extra.empty:
        return typed, report
    cases = extra if report.passed else pd.concat([report.cases, extra], ignore_index=True)
    return None, ContractReport(cases)


def _contract_error(report: ContractReport, source: str) -> LandedFileError:
    """The contract's verdict on a file; a column missing or unexpected is a fault of line 1."""
    header = report.cases["rule"].isin([MISSING_COLUMN, UNEXPECTED_COLUMN]).any()
    where = "line 1 (header): " if header else ""
    return LandedFileError(f"{source}: {where}{report.describe(where=line_of)}", RULE_CONTRACT, report)


def read_landed_csv(data: bytes, contract: Contract, source: str) -> pd.DataFrame:
    """Parse a landed CSV into the contract's column types, or say precisely why not.

    The frame's index is each row's line in the file."""
    text = _text_frame(data, source)
    typed, report = _with_non_finite(_non_finite(contract, {0: text}).get(0), *check_frame(contract, text))
    if typed is None:
        raise _contract_error(report, source)
    return typed


def read_landed_csvs(
    files: Mapping[Hashable, tuple[bytes, str]], contract: Contract
) -> dict[Hashable, pd.DataFrame | LandedFileError]:
    """Many landed files (key -> (bytes, source)): each typed frame, or the error that names it.

    The files are checked one by one for what only the bytes show, and typed by the
    contract together (see `check_frames`): a backfill's year of files costs one pass."""
    out: dict[Hashable, pd.DataFrame | LandedFileError] = {}
    texts: dict[Hashable, pd.DataFrame] = {}
    for key, (data, source) in files.items():
        held = _held.take(_held_key(contract, data, source))
        if held is not None:
            out[key] = held
            continue
        try:
            texts[key] = _text_frame(data, source)
        except LandedFileError as error:
            out[key] = error
    if texts:
        non_finite = _non_finite(contract, texts)
        for key, checked in check_frames(contract, texts).items():
            typed, report = _with_non_finite(non_finite.get(key), *checked)
            out[key] = typed if typed is not None else _contract_error(report, files[key][1])
    return {key: out[key] for key in files}


def _held_key(contract: Contract, data: bytes, source: str) -> tuple[str, str, str]:
    return (f"{contract.__module__}.{contract.__qualname__}", hashlib.sha256(data).hexdigest(), source)


def hold_parsed(
    run_id: str,
    files: Mapping[Hashable, tuple[bytes, str]],
    contract: Contract,
    parsed: Mapping[Hashable, pd.DataFrame | LandedFileError],
) -> None:
    """Keep the frames `read_landed_csvs` returned for the next reader of the same bytes in `run_id`.

    Keyed by content, so a reader of other bytes (a file landed again meanwhile) parses
    its own. Errors are not kept: they are cheap to find again."""
    for key, (data, source) in files.items():
        frame = parsed.get(key)
        if isinstance(frame, pd.DataFrame):
            _held.hold(run_id, _held_key(contract, data, source), frame)
