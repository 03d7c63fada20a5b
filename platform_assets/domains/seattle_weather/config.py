"""The Seattle weather domain's constants and calendars, read from seattle_weather.toml.

The calendar is the domain's own (four years of days; months for its summaries): the
platform takes whatever partitions definition an asset declares."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import dagster as dg

from platform_assets.domains import domain_toml

DOMAIN = "seattle_weather"


@lru_cache(maxsize=1)
def domain_config() -> dict[str, Any]:
    return domain_toml(DOMAIN)


def _bounds() -> tuple[str, str]:
    bounds = domain_config()["partitions"]
    return bounds["start"], bounds["end"]


DAILY = dg.DailyPartitionsDefinition(start_date=_bounds()[0], end_date=_bounds()[1])
# Monthly summaries: one partition per calendar month, keyed by its first day.
MONTHLY = dg.MonthlyPartitionsDefinition(start_date=_bounds()[0], end_date=_bounds()[1])
