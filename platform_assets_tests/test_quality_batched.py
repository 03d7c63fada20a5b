"""Validating a backfill's partitions in one pass reports what validating each alone does.

The reference is pandera itself, frame by frame (`check_frame`); the batched pass
(`check_frames`) must give every frame the same failure cases, with keys unique per
frame and not across frames."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from platform_assets.domains.flights.contracts import CarrierDailyPerformance
from platform_assets.quality.contracts import check_frame, check_frames


def _day(day: str, carriers: list[str], flights: list[int], first_row: int) -> pd.DataFrame:
    n = len(carriers)
    frame = pd.DataFrame(
        {
            "date": [day] * n,
            "carrier": carriers,
            "flights": pd.array(flights, dtype="Int64"),
            "cancelled": pd.array([0] * n, dtype="Int64"),
            "diverted": pd.array([0] * n, dtype="Int64"),
            "on_time_arrival_rate": pd.array([0.5] * n, dtype="Float64"),
            "mean_dep_delay_min": pd.array([1.0] * n, dtype="Float64"),
            "p90_dep_delay_min": pd.array([2.0] * n, dtype="Float64"),
            "mean_arr_delay_min": pd.array([1.0] * n, dtype="Float64"),
            "p90_arr_delay_min": pd.array([2.0] * n, dtype="Float64"),
        }
    )
    frame.index = pd.RangeIndex(first_row, first_row + n)  # rows named as their source names them
    return frame


def _cases(frame: pd.DataFrame) -> list[tuple]:
    return sorted(map(tuple, frame.astype(str).to_numpy().tolist()))


def test_batched_validation_matches_frame_by_frame() -> None:
    frames = {
        "2013-01-01": _day("2013-01-01", ["AA", "B6", "AA"], [10, 5, 7], 2),  # AA twice: a key repeat
        "2013-01-02": _day("2013-01-02", ["AA", "B6"], [10, 0], 2),  # flights 0 breaks ge=1
        "2013-01-03": _day("2013-01-03", ["AA", "DL"], [3, 4], 10),  # AA also on other days: fine
        "2013-01-04": _day("2013-01-04", ["UA", "x", "UA", "UA"], [1, 2, 3, 4], 5),
    }
    batched = check_frames(CarrierDailyPerformance, frames)
    for day, frame in frames.items():
        typed, report = batched[day]
        alone_typed, alone = check_frame(CarrierDailyPerformance, frame)
        assert _cases(report.cases) == _cases(alone.cases), day
        assert report.passed is alone.passed and (typed is None) is (alone_typed is None)
    assert batched["2013-01-03"][1].passed
    uniqueness = batched["2013-01-04"][1].cases
    assert sorted(uniqueness.loc[uniqueness["rule"] == "multiple_fields_uniqueness", "row"]) == [5, 7, 8]


def test_batched_typing_matches_frame_by_frame_when_some_frames_fail() -> None:
    # One failing frame leaves pandera with no typed concatenation: the passing frames
    # are typed in a second pass, and must come out as validating each alone gives them.
    frames = {
        "2013-01-01": _day("2013-01-01", ["AA", "B6"], [10, 5], 2),
        "2013-01-02": _day("2013-01-02", ["AA", "B6"], [10, 0], 2),  # flights 0 breaks ge=1
        "2013-01-03": _day("2013-01-03", ["AA", "DL", "UA"], [3, 4, 9], 10),
    }
    batched = check_frames(CarrierDailyPerformance, frames)
    for day in ("2013-01-01", "2013-01-03"):
        alone_typed, alone = check_frame(CarrierDailyPerformance, frames[day])
        assert alone.passed and batched[day][1].passed
        pd.testing.assert_frame_equal(batched[day][0], alone_typed)
    assert batched["2013-01-02"][0] is None and not batched["2013-01-02"][1].passed


def test_profiles_of_a_backfill_match_frame_by_frame() -> None:
    import numpy as np

    from platform_assets.domains import domain_toml
    from platform_assets.quality import history
    from platform_assets.quality.config import asset_config

    config = asset_config(domain_toml("flights").get("quality", {}), "curated/flights")
    rng = np.random.default_rng(7)

    def day(rows: int, all_missing: bool = False, all_cancelled: bool = False) -> pd.DataFrame:
        delays = pd.array(rng.normal(10, 30, rows).round(), dtype="Float64")
        delays[rng.random(rows) < 0.1] = pd.NA
        return pd.DataFrame(
            {
                "dep_delay": pd.array([pd.NA] * rows, dtype="Float64") if all_missing else delays,
                "arr_delay": delays * 1.5,
                "tailnum": pd.array([None if i % 9 == 0 else "N1" for i in range(rows)], dtype="string"),
                "cancelled": pd.array([all_cancelled or i % 17 == 0 for i in range(rows)], dtype="boolean"),
            }
        )

    frames = {
        "2013-01-01": day(900),
        "2013-01-02": day(850, all_missing=True),  # no value to describe: no statistics
        "2013-01-03": day(0),  # an empty day
        "2013-01-04": day(30, all_cancelled=True),  # every row excluded from the null rates
        "2013-01-05": day(1000),
    }
    together = history.profile_frames(frames, config)
    for key, frame in frames.items():
        alone = history.profile_frame(frame, config)
        assert together[key].rows == alone.rows, key
        assert together[key].null_rates == pytest.approx(alone.null_rates, rel=1e-12), key
        assert together[key].stats.keys() == alone.stats.keys()
        for column, stats in alone.stats.items():
            if stats["mean"] is None:
                assert together[key].stats[column] == stats, (key, column)
            else:
                assert together[key].stats[column] == pytest.approx(stats, rel=1e-12), (key, column)


def test_tables_converted_together_match_each_alone() -> None:
    import pyarrow as pa

    from platform_assets.quality.contracts import canonical_frame, canonical_frames

    def table(n: int, offset: int) -> pa.Table:
        return pa.table(
            {
                "flights": pa.array([None if i % 3 == 0 else i + offset for i in range(n)], pa.int64()),
                "rate": pa.array([i / 7 for i in range(n)], pa.float64()),
                "at": pa.array(
                    [1_357_000_000_000_000 + i for i in range(n)], pa.timestamp("us", tz="Etc/UTC")
                ),
                "carrier": pa.array(["AA"] * n, pa.string()),
            }
        ).replace_schema_metadata({b"from": str(offset).encode()})  # metadata may differ per table

    tables = {"a": table(5, 0), "b": table(0, 10), "c": table(4, 100)}
    together = canonical_frames(tables)
    for key, one in tables.items():
        pd.testing.assert_frame_equal(together[key], canonical_frame(one))


def test_screening_a_backfill_matches_screening_each_day_alone() -> None:
    from platform_assets.quality.quarantine import Offer, screen, screen_partitions

    days = {
        "2013-01-01": _day("2013-01-01", ["AA", "B6", "AA", "DL"], [10, 5, 7, 2], 2),  # AA twice: key repeat
        "2013-01-02": _day("2013-01-02", ["AA", "B6", "UA"], [10, 0, 3], 2),  # flights 0 breaks ge=1
        "2013-01-03": _day("2013-01-03", ["AA", "DL", "UA"], [3, 4, 9], 10),  # clean
        "2013-01-04": _day("2013-01-04", ["UA", "UA", "B6"], [1, 1, 4], 5),
    }
    days["2013-01-03"].loc[11, "date"] = "2013-01-09"  # a row of another day
    days["2013-01-04"].iloc[1] = days["2013-01-04"].iloc[0]  # an exact repeat
    flagged = {day: frame["carrier"] == "DL" for day, frame in days.items()}  # the caller's own reason
    offers = {day: Offer(frame, extra_reasons={"no_dl": flagged[day]}) for day, frame in days.items()}
    together = screen_partitions(offers, CarrierDailyPerformance, partition_column="date")
    for day, frame in days.items():
        alone = screen(
            frame, CarrierDailyPerformance, partition=day, partition_column="date",
            extra_reasons={"no_dl": flagged[day]},
        )  # fmt: skip
        assert together[day].kept.equals(alone.kept), day
        assert together[day].rejected.to_pylist() == alone.rejected.to_pylist(), day
        assert together[day].by_reason == alone.by_reason and together[day].offered == alone.offered
    reasons = {r["source_row"]: r["reason"] for r in together["2013-01-04"].rejected.to_pylist()}
    assert reasons == {6: "exact_duplicate"}
    assert together["2013-01-03"].by_reason == {"outside_partition": 1, "no_dl": 1}
    assert together["2013-01-01"].by_reason == {"no_dl": 1, "duplicate_key(date, carrier)": 1}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'a,b,c\n1,"x, y",3\n2,"",\n3,"line\nbreak",z\n', id="quotes-empty-and-line-break"),
        pytest.param("\ufeffa,b\n1,2\n".encode(), id="byte-order-mark"),
        pytest.param(b"a,a,b\n1,2,3\n", id="repeated-name"),
        pytest.param(b"a,,b\n1,2,3\n", id="blank-name"),
        pytest.param(b"a,b\n1,2\n\n3,4\n", id="blank-line"),
        pytest.param(b"a,b\n 1 , 2 \nNA,null\nNaN,\n", id="spaces-and-null-words"),
    ],
)
def test_landed_text_cells_are_what_pandas_reads(data: bytes) -> None:
    """The landed reader's text cells (Arrow's reader, pandas' for odd headers) against
    pandas' own reading of the same bytes: same names, cells, missing cells."""
    from platform_assets.quality.landed import _text_frame

    expected = pd.read_csv(io.BytesIO(data), dtype="str", keep_default_na=False, na_values=[""])
    found = _text_frame(data, "file.csv")
    pd.testing.assert_frame_equal(found.reset_index(drop=True), expected)


@pytest.mark.parametrize("dataset", ["flights", "weather"])
def test_landed_text_cells_of_real_days_are_what_pandas_reads(dataset: str) -> None:
    from platform_assets.domains.flights.source import NycFlights13Source
    from platform_assets.quality.landed import _text_frame

    for day in ("2013-01-01", "2013-03-10", "2013-11-03"):  # a plain day and both clock changes
        data = NycFlights13Source().daily_file(dataset, day)
        expected = pd.read_csv(io.BytesIO(data), dtype="str", keep_default_na=False, na_values=[""])
        found = _text_frame(data, f"{dataset}/{day}.csv")
        pd.testing.assert_frame_equal(found.reset_index(drop=True), expected)
        assert found.index[0] == 2 and found.index.is_monotonic_increasing  # named by file line
