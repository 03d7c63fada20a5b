"""The delay notebook runs top to bottom against a lake built from real days, so it cannot rot."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from platform_assets_tests.conftest import local_lake
from platform_assets_tests.pipeline import land_days, materialize_daily, materialize_reference

pytestmark = pytest.mark.integration

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "delays.ipynb"
DAYS = ["2013-06-27"]  # a stormy summer day: delays build through the afternoon


def test_delay_notebook_executes_and_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = local_lake(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    land_days(lake, DAYS[0], DAYS[-1])
    materialize_reference(lake, instance)
    materialize_daily(lake, instance, DAYS[0])
    for name, value in lake.env().items():  # the kernel inherits this environment
        monkeypatch.setenv(name, value)

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any failure

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2
    text = "\n".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert f"lake: {lake.storage.url}" in text
    assert f"1 day(s): {DAYS[0]} .. {DAYS[-1]}" in text
    published = lake.versions.resolve(["serving", "carrier_daily_performance"], DAYS[0])["version"]
    assert published in str(outputs[-1].get("data", {}))  # the reads table names the version used


WEATHER_NOTEBOOK = NOTEBOOK.parent / "seattle_weather_exploration.ipynb"


def test_weather_notebook_freezes_the_monthly_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The analyst's notebook runs as written and its baseline equals an independent DuckDB computation."""
    from platform_assets_tests.test_domain_seattle_weather import (
        EXPECTED_MONTHLY_SQL,
        EXPECTED_TYPES_SQL,
        expected,
    )

    monkeypatch.setenv("BASELINE_DIR", str(tmp_path / "baseline"))
    notebook = nbformat.read(WEATHER_NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    monthly = pd.read_csv(tmp_path / "baseline" / "monthly.csv")
    types = pd.read_csv(tmp_path / "baseline" / "type_days.csv")
    want = expected(EXPECTED_MONTHLY_SQL, "2012-01-01", "2015-12-31")
    assert monthly["month"].tolist() == want["month"].tolist() and len(monthly) == 48
    for column in want.columns.drop("month"):
        assert monthly[column].astype(float).round(9).tolist() == want[column].astype(float).round(9).tolist()
    want_types = expected(EXPECTED_TYPES_SQL, "2012-01-01", "2015-12-31")
    assert types.values.tolist() == want_types.astype({"days": int}).values.tolist()
