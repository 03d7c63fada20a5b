"""Landed files read against the source's contract, or refused with a reason that names the file.

A raw contract says what a source promises: which columns, each readable as which
type. Every value is read as text first and then coerced by pandera, so a renamed,
missing, extra or retyped column is reported by name, with the offending value and
its line, instead of surfacing later as a confusing error in a transformation."""

from __future__ import annotations

import csv
import io
from collections.abc import Hashable, Mapping
from typing import Any

import pandas as pd

from platform_assets.quality.contracts import Contract, ContractReport, check_frame, check_frames

HEADER_LINES = 1
RULE_UTF8 = "utf8_text"
RULE_NOT_EMPTY = "has_header"
RULE_COMPLETE = "complete_records"
RULE_CSV = "well_formed_csv"
RULE_CONTRACT = "source_contract"


class LandedFileError(ValueError):
    """A landed file that cannot be read as its source promises.

    `rule` names the promise it breaks; `report` carries pandera's failure cases when
    the file parsed but broke the contract."""

    def __init__(self, message: str, rule: str, report: ContractReport | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.report = report


def line_of(row: Any) -> str:
    """The file line of a 0-based data row (line 1 is the header)."""
    return f"line {int(row) + HEADER_LINES + 1}"


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise LandedFileError(
            f"{source}: not UTF-8 text: byte 0x{data[error.start]:02x} on line {line} "
            f"(offset {error.start}) cannot be decoded",
            RULE_UTF8,
        ) from None


def _check_records(text: str, source: str) -> None:
    """Every record has the header's field count, and the file ends where a record ends.

    pandas pads a short last row with nulls; a file cut off mid-transfer would pass
    as valid data with one odd row, so the shape is checked before pandas sees it."""
    if not text.endswith("\n"):
        raise LandedFileError(
            f"{source}: the file does not end with a newline; it looks truncated", RULE_COMPLETE
        )
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    for record in reader:
        if record and len(record) != len(header):
            raise LandedFileError(
                f"{source}: line {reader.line_num} has {len(record)} fields but the header has "
                f"{len(header)}; the file looks truncated or malformed",
                RULE_COMPLETE,
            )


def _text_frame(data: bytes, source: str) -> pd.DataFrame:
    """Every cell as text, after the checks that need the raw bytes."""
    text = _decode(data, source)
    if not text.strip():
        raise LandedFileError(f"{source}: the file is empty (no header row)", RULE_NOT_EMPTY)
    try:
        _check_records(text, source)
        return pd.read_csv(io.StringIO(text), dtype="str", keep_default_na=False, na_values=[""])
    except (csv.Error, pd.errors.ParserError) as error:
        raise LandedFileError(f"{source}: not a well-formed CSV ({error})", RULE_CSV) from None


def _contract_error(report: ContractReport, source: str) -> LandedFileError:
    return LandedFileError(f"{source}: {report.describe(where=line_of)}", RULE_CONTRACT, report)


def read_landed_csv(data: bytes, contract: Contract, source: str) -> pd.DataFrame:
    """Parse a landed CSV into the contract's column types, or say precisely why not."""
    typed, report = check_frame(contract, _text_frame(data, source))
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
        try:
            texts[key] = _text_frame(data, source)
        except LandedFileError as error:
            out[key] = error
    for key, (typed, report) in check_frames(contract, texts).items():
        out[key] = typed if typed is not None else _contract_error(report, files[key][1])
    return {key: out[key] for key in files}
