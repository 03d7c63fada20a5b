"""Rollbacks meeting runs: real Dagster runs through the platform's IO manager and its
automation condition, on a small graph (curated/up -> serving/down) in a temporary lake.

* A rollback between a run's write of `up` and its `down` step stops `down` with a
  message, instead of building it from a version the run never audited.
* A rollback of `up` is a materialization of the restored version in Dagster:
  serving/total, built from the version rolled back from, is requested by the
  automation condition and rebuilt from the restored version.

(No `from __future__ import annotations`: Dagster reads the context annotations at definition time.)"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pytest

from platform_assets.automation import platform_policies
from platform_assets.automation.config import AutomationSettings
from platform_assets.catalog import Catalog
from platform_assets.lake import history
from platform_assets.lake.io_manager import VersionedParquetIOManager
from platform_assets.lake.resources import LakeResource
from platform_assets_tests.conftest import local_lake

pytestmark = pytest.mark.integration

DAYS = dg.DailyPartitionsDefinition(start_date="2013-01-01", end_date="2013-12-31")
DAY = "2013-03-05"
UP = ["curated", "up"]
# What `up` holds in the run being made; the test changes it between runs.
source = {"values": [1, 2, 3]}
sabotage: list = []


@dg.asset(key=UP, partitions_def=DAYS, tags={"zone": "curated"})
def up(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame({"date": context.partition_key, "value": source["values"]})


@dg.asset(key=["serving", "saboteur"], deps=[up], partitions_def=DAYS, tags={"zone": "serving"})
def saboteur() -> None:
    for act in sabotage:  # runs after `up` was written, before `down` reads it
        act()


@dg.asset(
    key=["serving", "down"],
    ins={"up": dg.AssetIn(key=UP)},
    deps=[saboteur],
    partitions_def=DAYS,
    tags={"zone": "serving"},
)
def down(context: dg.AssetExecutionContext, up: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"date": [context.partition_key], "total": [int(up["value"].sum())]})


@dg.asset(
    key=["serving", "total"], ins={"up": dg.AssetIn(key=UP)}, partitions_def=DAYS, tags={"zone": "serving"}
)
def total(context: dg.AssetExecutionContext, up: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"date": [context.partition_key], "total": [int(up["value"].sum())]})


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def _resources(lake_resource: LakeResource) -> dict:
    return {"lake": lake_resource, "io_manager": VersionedParquetIOManager(lake=lake_resource)}


def _audit_all(store, key: list[str]) -> None:
    """Stand-in for the audit check this toy graph has none of: every version passed."""
    for version in store.versions(key, DAY):
        history.record_audit(store, key, DAY, version, passed=True)


def test_rollback_between_a_runs_write_and_its_downstream_step_stops_the_run(
    tmp_path, instance: dg.DagsterInstance
) -> None:
    lake = local_lake(tmp_path)
    store = lake.versions
    resources = _resources(lake.resource)
    source["values"] = [1, 2, 3]
    assert dg.materialize([up], partition_key=DAY, resources=resources, instance=instance).success
    _audit_all(store, UP)
    first = store.published_version(UP, DAY)

    source["values"] = [10, 20, 30]
    sabotage.append(lambda: history.rollback(store, UP, DAY, to=first, reason="mid-run"))
    try:
        result = dg.materialize(
            [up, saboteur, down],
            partition_key=DAY,
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
    finally:
        sabotage.clear()
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "serving__down"
    message = str(failure.event_specific_data.error)
    assert "this run wrote and audited" in message and first in message
    assert store.published_version(["serving", "down"], DAY) is None
    assert store.published_version(UP, DAY) == first


def test_rollback_marks_downstream_stale_and_automation_rebuilds_it(tmp_path, instance) -> None:
    lake = local_lake(tmp_path)
    store = lake.versions
    resources = _resources(lake.resource)
    defs = dg.Definitions(
        assets=dg.map_asset_specs(platform_policies(AutomationSettings()), [up, total]),
        resources=resources,
    )
    ticks = [dg.evaluate_automation_conditions(defs=defs, instance=instance)]

    def tick() -> set[str]:
        ticks.append(dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=ticks[-1].cursor))
        return set(ticks[-1].get_requested_partitions(dg.AssetKey(["serving", "total"])))

    def build(values: list[int]) -> None:
        source["values"] = values
        assert dg.materialize([up, total], partition_key=DAY, resources=resources, instance=instance)
        _audit_all(store, UP)

    build([1, 2, 3])
    restored = store.published_version(UP, DAY)
    build([10, 20, 30])
    assert Catalog(lake.storage).load("serving/total")["total"].tolist() == [60]
    tick()  # settle: everything is up to date
    assert tick() == set()

    done = history.rollback(store, UP, DAY, reason="the new numbers are wrong")
    assert done.to_version == restored
    history.report_rollback(done, instance)

    assert tick() == {DAY}  # total was built from the version rolled back from: rebuilt
    assert dg.materialize(
        [up, total], selection=[total.key], partition_key=DAY, resources=resources, instance=instance
    ).success
    rebuilt = store.resolve(["serving", "total"], DAY)
    assert [(u["asset"], u["version"]) for u in rebuilt["upstream"]] == [("curated/up", restored)]
    assert Catalog(lake.storage).load("serving/total")["total"].tolist() == [1 + 2 + 3]
    assert tick() == set()
