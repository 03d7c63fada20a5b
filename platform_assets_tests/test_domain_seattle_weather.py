"""The Seattle weather domain through the platform: landed days -> raw -> curated -> monthly serving.

Expected values are computed independently, in DuckDB straight over the vega-datasets
table (not through the domain's pandas code), and compared with what the catalog reads
from the lake. `make test` builds one month; the four years are the soak run
(`make soak`): 1,461 daily partitions of raw and curated versions, manifests and
audits took 31 minutes in one single-run backfill, at low priority on a 2-core machine
shared with four other engineers (48 months of serving: 40 s), far beyond `make test`'s budget."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from platform_assets.catalog import Catalog
from platform_assets.definitions import build_definitions
from platform_assets.domains.seattle_weather.source import land
from platform_assets_tests.conftest import Lake, local_lake

pytestmark = pytest.mark.integration

DAILY = [dg.AssetKey(["raw", "seattle_weather"]), dg.AssetKey(["curated", "seattle_weather"])]
MONTHLY = [
    dg.AssetKey(["serving", "seattle_weather_monthly"]),
    dg.AssetKey(["serving", "seattle_weather_type_days"]),
]

EXPECTED_MONTHLY_SQL = """
    SELECT strftime(date_trunc('month', date), '%Y-%m-%d') AS month,
           count(*) AS days,
           sum(precipitation) AS precipitation_mm,
           count(*) FILTER (WHERE precipitation > 0) AS wet_days,
           max(temp_max) AS temp_max_c,
           min(temp_min) AS temp_min_c,
           avg(temp_max - temp_min) AS mean_temp_range_c,
           avg(wind) AS mean_wind_ms
    FROM source WHERE date BETWEEN $start AND $end
    GROUP BY ALL ORDER BY month
"""
EXPECTED_TYPES_SQL = """
    SELECT strftime(date_trunc('month', date), '%Y-%m-%d') AS month, weather, count(*) AS days
    FROM source WHERE date BETWEEN $start AND $end
    GROUP BY ALL ORDER BY month, weather
"""


def build(root: Path, start: str, end: str) -> Lake:
    """Land [start, end] and build it: one run for the days, one for the months."""
    lake = local_lake(root)
    land(lake.storage, date.fromisoformat(start), date.fromisoformat(end))
    defs = build_definitions(lake.resource)
    everything = [*defs.assets, *(defs.asset_checks or [])]
    instance = dg.DagsterInstance.ephemeral()
    months = (start[:8] + "01", end[:8] + "01")
    for selection, (first, last) in ((DAILY, (start, end)), (MONTHLY, months)):
        result = dg.materialize(
            everything,
            selection=selection,
            resources=defs.resources,
            instance=instance,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
        assert result.success
    return lake


def expected(sql: str, start: str, end: str) -> pd.DataFrame:
    from vega_datasets import local_data

    source = local_data.seattle_weather()  # noqa: F841 - DuckDB reads the frame by its name
    connection = duckdb.connect()
    return connection.execute(sql, {"start": start, "end": end}).df()


def assert_serving_matches(lake: Lake, start: str, end: str) -> None:
    catalog = Catalog(lake.storage)
    monthly = catalog.load("serving/seattle_weather_monthly").sort_values("month").reset_index(drop=True)
    types = catalog.load("serving/seattle_weather_type_days").sort_values(["month", "weather"])
    want_monthly = expected(EXPECTED_MONTHLY_SQL, start, end)
    want_types = expected(EXPECTED_TYPES_SQL, start, end)
    assert list(monthly["month"]) == list(want_monthly["month"])
    for column in want_monthly.columns.drop("month"):
        got, want = monthly[column].astype(float), want_monthly[column].astype(float)
        assert got.round(9).tolist() == want.round(9).tolist(), column
    assert types[["month", "weather"]].values.tolist() == want_types[["month", "weather"]].values.tolist()
    assert types["days"].astype(int).tolist() == want_types["days"].astype(int).tolist()
    # Every landed day reached curated, published.
    days = catalog.load("curated/seattle_weather", columns=["date"])
    assert len(days) == (date.fromisoformat(end) - date.fromisoformat(start)).days + 1


def test_a_month_equals_an_independent_computation(tmp_path: Path) -> None:
    """February 2012 (a leap month): 29 days through raw and curated, one month through serving."""
    lake = build(tmp_path, "2012-02-01", "2012-02-29")
    assert_serving_matches(lake, "2012-02-01", "2012-02-29")


@pytest.mark.soak
def test_four_years_equal_an_independent_computation(tmp_path: Path) -> None:
    """All of 2012-2015: 1,461 days and 48 months, each zone in one single-run backfill."""
    lake = build(tmp_path, "2012-01-01", "2015-12-31")
    assert_serving_matches(lake, "2012-01-01", "2015-12-31")


def test_a_day_breaking_the_contract_is_quarantined_and_blocks(tmp_path: Path) -> None:
    """A landed day whose minimum is above its maximum never reaches readers."""
    lake = local_lake(tmp_path)
    land(lake.storage, date(2012, 3, 1), date(2012, 3, 2))
    bad = "date,precipitation,temp_max,temp_min,wind,weather\n2012-03-02,0.0,5.0,9.0,2.0,sun\n"
    lake.storage.write_bytes("landing/seattle_weather/2012-03-02.csv", bad.encode())
    defs = build_definitions(lake.resource)
    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        selection=DAILY,
        resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2012-03-01",
            "dagster/asset_partition_range_end": "2012-03-02",
        },
        raise_on_error=False,
    )
    assert not result.success
    store = lake.versions
    assert store.published_version(["curated", "seattle_weather"], "2012-03-01") is not None
    assert store.published_version(["curated", "seattle_weather"], "2012-03-02") is None
    quarantined = list(lake.storage.list_names("quarantine/seattle_weather/date=2012-03-02"))
    assert quarantined, "the rejected day is kept in quarantine with its reason"
