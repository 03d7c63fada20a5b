"""Validating a backfill's partitions in one pass reports what validating each alone does.

The reference is pandera itself, frame by frame (`check_frame`); the batched pass
(`check_frames`) must give every frame the same failure cases, with keys unique per
frame and not across frames."""

from __future__ import annotations

import pandas as pd

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
