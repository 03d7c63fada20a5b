"""Re-materialization makes new versions; single-run backfills equal per-partition runs."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pytest

from platform_assets.lake import layout
from platform_assets.lake.landing import landing_path
from platform_assets_tests.conftest import Lake, local_lake
from platform_assets_tests.pipeline import land_days, materialize_daily, materialize_reference

pytestmark = pytest.mark.integration

DAILY_ASSETS = [
    ["raw", "flights"],
    ["raw", "weather"],
    ["curated", "flights"],
    ["curated", "weather"],
    ["serving", "carrier_daily_performance"],
    ["serving", "route_daily"],
    ["serving", "flight_delay_features"],
]


def test_rematerializing_creates_and_publishes_a_new_identical_version(lake: Lake) -> None:
    day = "2013-03-10"  # the spring DST change in New York
    instance = dg.DagsterInstance.ephemeral()
    land_days(lake, day, day)
    materialize_reference(lake, instance)
    materialize_daily(lake, instance, day)
    store = lake.versions
    first = {tuple(k): store.resolve(k, day) for k in DAILY_ASSETS}
    first_data = {k: store.read_table(m) for k, m in first.items() if m["kind"] == "parquet"}

    materialize_daily(lake, instance, day)
    for key, old in first.items():
        versions = store.versions(list(key), day)
        assert len(versions) == 2, key
        new = store.resolve(list(key), day)
        assert new["version"] != old["version"] and new["version"] == versions[-1]
        assert store.pointer(list(key), day)["previous_version"] == old["version"]
        assert new["content_hash"] == old["content_hash"], key
        # The old version is intact and still readable by pinning it.
        pinned = store.resolve(list(key), day, old["version"])
        if key in first_data:
            assert store.read_table(pinned).equals(first_data[key])
            assert store.read_table(new).equals(first_data[key])
        else:
            assert store.read_file(pinned) == store.read_file(new)


def test_single_run_backfill_equals_per_partition_runs(tmp_path_factory: pytest.TempPathFactory) -> None:
    start, end = "2013-07-01", "2013-07-31"
    days = [f"2013-07-{d:02d}" for d in range(1, 32)]
    backfilled = local_lake(tmp_path_factory.mktemp("backfill"))
    one_by_one = local_lake(tmp_path_factory.mktemp("per_partition"))
    instance = dg.DagsterInstance.ephemeral()
    for lake in (backfilled, one_by_one):
        land_days(lake, start, end)
        materialize_reference(lake, instance)

    result = materialize_daily(backfilled, instance, start, end)
    assert len(result.get_asset_materialization_events()) == len(DAILY_ASSETS) * len(days)
    run_ids = {backfilled.versions.resolve(k, d)["run_id"] for k in DAILY_ASSETS for d in days}
    assert run_ids == {result.run_id}  # one run wrote every partition

    # Each partition's event carries that partition's own version and row count.
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        manifest = backfilled.versions.resolve(materialization.asset_key.path, materialization.partition)
        metadata = materialization.metadata
        assert metadata["platform/version"].value == manifest["version"]
        assert metadata["dagster/size_bytes"].value == manifest["bytes"]
        if "row_count" in manifest:
            assert metadata["dagster/row_count"].value == manifest["row_count"]

    for day in days:
        materialize_daily(one_by_one, instance, day)

    for key in DAILY_ASSETS:
        for day in days:
            a = backfilled.versions.resolve(key, day)
            b = one_by_one.versions.resolve(key, day)
            assert a["row_count" if "row_count" in a else "bytes"] == b.get("row_count", b["bytes"])
            if a["kind"] == "file":
                assert a["content_hash"] == b["content_hash"], (key, day)
            else:
                ta = backfilled.versions.read_table(a)
                tb = one_by_one.versions.read_table(b)
                assert ta.equals(tb), (key, day)
    # Each partition's manifest names only the upstream partition it was built from.
    manifest = backfilled.versions.resolve(["curated", "flights"], "2013-07-04")
    flights_inputs = [u for u in manifest["upstream"] if u["asset"] == "raw/flights"]
    assert [u["partition"] for u in flights_inputs] == ["2013-07-04"]


@pytest.mark.parametrize("bad", ["../../etc", "2013-13-45"])
def test_bad_partition_key_is_refused_before_any_storage_call(tmp_path, bad: str) -> None:
    lake = local_lake(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(Exception, match="2013-13-45|../../etc") as raised:
        materialize_daily(lake, instance, bad)
    assert "partition" in str(raised.value).lower()
    assert not (tmp_path / "lake").exists()  # the run touched no storage at all
    store = lake.versions  # opening the lake writes its identity record (dev: on first use)
    with pytest.raises(layout.PartitionKeyError, match="partition key"):
        store.write_table(["curated", "flights"], bad, pa.table({"x": [1]}), run_id="r")
    with pytest.raises(layout.PartitionKeyError, match="partition key"):
        store.resolve(["curated", "flights"], bad)
    with pytest.raises(layout.PartitionKeyError, match="partition key"):
        landing_path("flights", bad)
    # Nothing was created but the lake's identity record.
    assert sorted(p.name for p in (tmp_path / "lake").iterdir()) == ["_lake.json"]
