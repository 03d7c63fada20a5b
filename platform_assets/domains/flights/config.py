"""The flights domain's constants, read from flights.toml."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any

import dagster as dg

DOMAIN = "flights"


@lru_cache(maxsize=1)
def domain_config() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("flights.toml").read_text()
    return tomllib.loads(text)


def daily_partitions() -> dg.DailyPartitionsDefinition:
    bounds = domain_config()["partitions"]
    return dg.DailyPartitionsDefinition(start_date=bounds["start"], end_date=bounds["end"])


DAILY = daily_partitions()
