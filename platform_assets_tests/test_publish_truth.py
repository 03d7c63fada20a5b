"""What Dagster shows about publishing is what the lake holds, on the real flights graph.

* After an audit publishes a version, its contract check result says "published" and
  names that version (the materialization said "pending audit" when it was written).
* One day's corrupt pointer does not stop the next day's audit (its history checks
  read that pointer): the next day is judged, published, and the damage is logged."""

from __future__ import annotations

import dagster as dg
import pytest

from platform_assets.domains.flights.source import NycFlights13Source
from platform_assets.lake import layout
from platform_assets.lake.io_manager import META_STATUS, META_VERSION, STATUS_PENDING, STATUS_PUBLISHED
from platform_assets.lake.landing import land_file, landing_path
from platform_assets_tests.conftest import local_lake
from platform_assets_tests.quality_corpus import CURATED, RAW, clean_flights, land_flights, run_assets

pytestmark = pytest.mark.integration

FLIGHTS = [list(RAW), list(CURATED)]
DAY, NEXT = "2013-03-05", "2013-03-06"


def _latest(instance: dg.DagsterInstance, day: str) -> tuple[dg.AssetMaterialization, dict]:
    """The partition's latest materialization, and the metadata of the latest contract verdict."""
    where = dg.AssetRecordsFilter(asset_key=dg.AssetKey(list(CURATED)), asset_partitions=[day])
    materialization = instance.fetch_materializations(where, limit=1).records[0].asset_materialization
    check = dg.AssetCheckKey(dg.AssetKey(list(CURATED)), "contract")
    (latest,) = instance.event_log_storage.get_asset_check_execution_history(check, limit=1)
    evaluation = latest.event.dagster_event.event_specific_data
    assert evaluation.metadata["partition"].value == day
    return materialization, evaluation.metadata


def test_the_audit_records_the_publish_and_a_corrupt_day_does_not_stop_the_next(tmp_path) -> None:
    lake = local_lake(tmp_path)
    store = lake.versions
    instance = dg.DagsterInstance.ephemeral()
    land_file(lake.storage, landing_path("airports"), NycFlights13Source().reference_file("airports"))
    assert run_assets(lake, instance, [["raw", "airports"], ["curated", "airports"]]).success
    land_flights(lake, DAY, clean_flights(DAY))
    assert run_assets(lake, instance, FLIGHTS, DAY).success

    written, published = _latest(instance, DAY)
    version = store.published_version(list(CURATED), DAY)
    assert written.metadata[META_STATUS].value == STATUS_PENDING  # true when it was written
    assert written.metadata[META_VERSION].value == version
    assert published[META_STATUS].value == STATUS_PUBLISHED  # and the audit says what happened
    assert published[META_VERSION].value == version
    assert published["platform/published"].value is True
    assert published["platform/published_at"].value == store.pointer(list(CURATED), DAY)["published_at"]

    # Damage DAY's pointer; NEXT's day-over-day check reads it, and must carry on.
    lake.storage.write_bytes(layout.pointer_path(list(CURATED), DAY), b'{"version": ')
    land_flights(lake, NEXT, clean_flights(NEXT))
    result = run_assets(lake, instance, FLIGHTS, NEXT)
    assert result.success
    assert store.published_version(list(CURATED), NEXT) is not None
    assert _latest(instance, NEXT)[1][META_STATUS].value == STATUS_PUBLISHED


def test_runs_finishing_out_of_order_leave_the_newest_audited_version_published(tmp_path) -> None:
    """Two runs land the same raw day; the older run's audit finishes last (the real
    audit code, run under each run's own id) and must not put its version back."""
    from platform_assets.domains.flights.audits import AUDITS
    from platform_assets.domains.flights.config import domain_config
    from platform_assets.lake.versions import RawFile
    from platform_assets.quality.audit import Auditor
    from platform_assets.quality.config import asset_config

    lake = local_lake(tmp_path)
    store = lake.versions
    spec = next(a for a in AUDITS if a.asset_key == tuple(RAW))
    config = asset_config(domain_config().get("quality", {}), spec.name)
    data = clean_flights(DAY)
    older, newer = "aaaaaaaa-older-run", "bbbbbbbb-newer-run"
    for run_id in (older, newer):  # the older run writes first, the newer second
        store.write_file(list(RAW), DAY, RawFile(f"{DAY}.csv", data, "landing"), run_id=run_id)

    def audit(run_id: str) -> dict[str, bool]:
        results = list(Auditor(store, spec, config, run_id).run([DAY], dg.AssetKey(list(RAW))))
        return {r.check_name: r.passed for r in results}

    assert all(audit(newer).values())
    newest = store.published_version(list(RAW), DAY)
    assert newest.endswith("-bbbbbbbb")
    assert all(audit(older).values())  # the older version is sound, and still not published
    assert store.published_version(list(RAW), DAY) == newest
    assert [e["version"] for e in store.pointer(list(RAW), DAY)["history"]] == [newest]
