"""Replaying a historical source as a live feed: one day lands every few seconds.

With `make dev` running, `platform replay --start 2013-02-01 --days 7 --every 10s`
lets a user watch the landing sensor, the raw run and the curated and serving
rebuilds follow each day in the UI, with no clicks. The domain's own `land`
function does the landing, so a replayed day is byte-for-byte what `platform land`
would have written, and replaying a day twice writes nothing the second time."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from platform_assets import logs
from platform_assets.lake.storage import LakeStorage

LandFn = Callable[..., dict[str, int]]
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_interval(text: str) -> float:
    """Seconds from `10s`, `1.5m`, `500ms`, `1h` or a bare number of seconds."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an interval like 10s, 1m or 500ms")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


@dataclass(frozen=True)
class ReplayedDay:
    day: date
    written: int
    unchanged: int
    landed_at: datetime


def replay(
    storage: LakeStorage,
    land: LandFn,
    start: date,
    days: int,
    every_s: float,
    *,
    report: Callable[[ReplayedDay], object] | None = None,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[ReplayedDay]:
    """Land `days` days from `start`, one per `every_s` seconds (measured start to start)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if every_s < 0:
        raise ValueError("the interval cannot be negative")
    done = []
    for index in range(days):
        began = clock()
        day = start + timedelta(days=index)
        counts = land(storage, day, day)
        replayed = ReplayedDay(day, counts["written"], counts["unchanged"], datetime.now(UTC))
        logs.emit(
            "replay_landed",
            day=day.isoformat(),
            written=replayed.written,
            unchanged=replayed.unchanged,
            lake=storage.url,
        )
        done.append(replayed)
        if report:
            report(replayed)
        if index + 1 < days:
            sleep(max(0.0, every_s - (clock() - began)))
    return done
