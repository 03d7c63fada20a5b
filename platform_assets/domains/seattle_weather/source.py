"""The Seattle weather source: vega-datasets' `seattle-weather` table, dropped one file a day.

The table ships inside the `vega_datasets` package (no download); each day lands as
`landing/seattle_weather/<YYYY-MM-DD>.csv` with that day's one observation, the way a
weather station's nightly export would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache

import pandas as pd

from platform_assets.lake.landing import days, land_files, landing_path
from platform_assets.lake.storage import LakeStorage

DATASET = "seattle_weather"
COLUMNS = ["date", "precipitation", "temp_max", "temp_min", "wind", "weather"]


@lru_cache(maxsize=1)
def source_table() -> pd.DataFrame:
    """The table as the source system holds it: one row per day, `date` as `YYYY-MM-DD` text."""
    from vega_datasets import local_data

    frame = local_data.seattle_weather()
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    return frame[COLUMNS]


def land(
    storage: LakeStorage,
    start: date,
    end: date,
    progress: Callable[[int], object] | None = None,
) -> dict[str, int]:
    """Land [start, end] into `storage`; unchanged files are left alone."""
    table = source_table()
    by_day = {key: rows for key, rows in table.groupby("date", sort=True)}
    empty = table.iloc[0:0]

    def render(key: str) -> bytes:
        return by_day.get(key, empty).to_csv(index=False, lineterminator="\n").encode()

    files = ((landing_path(DATASET, key), lambda k=key: render(k)) for key in days(start, end))
    return land_files(storage, files, progress)


def landing_file_count(start: date, end: date) -> int:
    return (end - start).days + 1
