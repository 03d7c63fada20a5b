"""The representative slice a canary runs on when no partitions are named (`--auto`).

Code changes break on the unusual days: a weekend's different mix, a holiday, the
two days a year whose local clock skips or repeats an hour, the busiest and quietest
days, and the day things went most wrong. Each is computed from what is published,
so the slice follows the data rather than a hand-kept list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow.compute as pc

from platform_assets.lake.history import parallel_map
from platform_assets.lake.versions import VersionStore
from platform_assets.maintenance.config import SliceConfig


class SliceError(ValueError):
    """Nothing published to choose a slice from, or a slice setting that names nothing."""


def dst_switch_days(timezone: str, years: Sequence[int]) -> list[date]:
    """Days whose local noon has a different UTC offset than the day before's."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SliceError(f"[canary.slice] timezone {timezone!r} is not a known time zone") from None
    found = []
    for year in years:
        day = date(year, 1, 1)
        previous = datetime(year - 1, 12, 31, 12, tzinfo=zone).utcoffset()
        while day.year == year:
            offset = datetime(day.year, day.month, day.day, 12, tzinfo=zone).utcoffset()
            if offset != previous:
                found.append(day)
            previous = offset
            day += timedelta(days=1)
    return found


def holidays(calendar: str, first: date, last: date) -> list[date]:
    """Public holidays between two days (inclusive), from pandas' calendars."""
    from pandas.tseries.holiday import USFederalHolidayCalendar

    if calendar != "us_federal":
        raise SliceError(f"[canary.slice] holiday_calendar {calendar!r} is not supported")
    return [d.date() for d in USFederalHolidayCalendar().holidays(first, last)]


def _median_day(volumes: dict[str, int], days: list[str]) -> str | None:
    """The day whose volume is the median of `days` (the lower one of an even count)."""
    ranked = sorted(days, key=lambda d: (volumes[d], d))
    return ranked[(len(ranked) - 1) // 2] if ranked else None


def _key(asset: str) -> list[str]:
    return asset.split("/")


def representative_slice(store: VersionStore, config: SliceConfig) -> dict[str, list[str]]:
    """{day: [why it is in the slice]} over the days published in the volume asset."""
    volume_key = _key(config.volume_asset)
    partitions = store.partitions(volume_key)
    pointers = parallel_map(lambda p: (p, store.published_version(volume_key, p)), partitions)
    published = [p for p, version in pointers if version]
    if not published:
        raise SliceError(f"{config.volume_asset} has no published partitions in {store.storage.url}")
    volumes = dict(
        parallel_map(lambda p: (p, int(store.resolve(volume_key, p).get("row_count") or 0)), published)
    )
    chosen: dict[str, list[str]] = {}

    def add(day: str | None, why: str) -> None:
        if day is not None:
            chosen.setdefault(day, []).append(why)

    weekdays = [d for d in published if date.fromisoformat(d).weekday() < 5]
    weekends = [d for d in published if date.fromisoformat(d).weekday() >= 5]
    add(_median_day(volumes, weekdays), "median weekday")
    add(_median_day(volumes, weekends), "median weekend day")
    first, last = date.fromisoformat(published[0]), date.fromisoformat(published[-1])
    holiday = next(
        (d.isoformat() for d in holidays(config.holiday_calendar, first, last) if d.isoformat() in volumes),
        None,
    )
    add(holiday, "holiday")
    years = sorted({date.fromisoformat(d).year for d in published})
    for day in dst_switch_days(config.timezone, years):
        add(day.isoformat() if day.isoformat() in volumes else None, "DST switch")
    add(max(published, key=lambda d: (volumes[d], d)), f"highest volume ({max(volumes.values())} rows)")
    add(min(published, key=lambda d: (volumes[d], d)), f"lowest volume ({min(volumes.values())} rows)")
    most_day, why = _most(store, config)
    add(most_day, why)
    return dict(sorted(chosen.items()))


def _most(store: VersionStore, config: SliceConfig) -> tuple[str | None, str]:
    """The published day with the highest sum of `count_column` in `count_asset`."""
    key = _key(config.count_asset)
    column = config.count_column

    def total(partition: str) -> tuple[str, float] | None:
        if store.published_version(key, partition) is None:
            return None
        manifest = store.resolve(key, partition)
        values = store.read_table(manifest, [column]).column(column)
        return partition, float(pc.sum(values.cast("double")).as_py() or 0)

    sums = [s for s in parallel_map(total, store.partitions(key)) if s is not None]
    if not sums:
        return None, ""
    day, count = max(sums, key=lambda s: (s[1], s[0]))
    return day, f"most {column} ({count:g})"
