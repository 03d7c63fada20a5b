"""Write, audit, publish on a local lake and on S3 (moto's server): the same guarantees.

Kept to the smallest graph that shows them (airports, then one day of flights), since
every object operation is a real HTTP request on the S3 side."""

from __future__ import annotations

import dagster as dg
import pytest

from platform_assets.domains.flights.source import NycFlights13Source
from platform_assets.lake.history import AUDIT_FILE, audit_state
from platform_assets.lake.landing import land_file, landing_path
from platform_assets.lake.quarantine import REASON_COLUMN, quarantine_key
from platform_assets_tests.conftest import Lake
from platform_assets_tests.quality_corpus import (
    CASES,
    CURATED,
    RAW,
    clean_flights,
    evaluation,
    land_flights,
    negated_rows,
    run_assets,
    served,
    versions_of_run,
)

pytestmark = pytest.mark.integration

DAY = "2013-03-05"
AIRPORTS = [["raw", "airports"], ["curated", "airports"]]
FLIGHTS = [list(RAW), list(CURATED)]
NEGATIVE_DURATIONS = next(c for c in CASES if c.name == "negative_durations")


def test_failed_audit_keeps_readers_on_the_published_version(lake: Lake) -> None:
    instance = dg.DagsterInstance.ephemeral()
    store = lake.versions
    land_file(lake.storage, landing_path("airports"), NycFlights13Source().reference_file("airports"))
    land_flights(lake, DAY, clean_flights(DAY))
    assert run_assets(lake, instance, AIRPORTS).success
    assert run_assets(lake, instance, FLIGHTS, DAY).success
    published = served(lake, DAY, [CURATED])
    original = store.read_table(store.resolve(list(CURATED), DAY))

    land_flights(lake, DAY, NEGATIVE_DURATIONS.build(clean_flights(DAY), DAY))
    failed = run_assets(lake, instance, FLIGHTS, DAY)

    assert not failed.success
    assert not evaluation(failed, CURATED, "rejected_share").passed
    assert served(lake, DAY, [CURATED]) == published  # same version, same bytes
    assert store.read_table(store.resolve(list(CURATED), DAY)).equals(original)
    (rejected,) = versions_of_run(lake, list(CURATED), DAY, failed.run_id)
    manifest = store.manifest(list(CURATED), DAY, rejected)
    assert lake.storage.exists(f"{manifest['uri'].removeprefix(lake.storage.url + '/')}/{AUDIT_FILE}")
    assert audit_state(store, manifest)[0] == "failed"
    quarantined = store.read_table(store.manifest(quarantine_key(CURATED), DAY, rejected)).to_pandas()
    assert len(quarantined) == len(negated_rows(clean_flights(DAY)))
    assert (quarantined[REASON_COLUMN] == "air_time: greater_than(0)").all()
    assert quarantined["air_time"].lt(0).all()  # kept as landed, for whoever fixes the source

    # The source corrects the file: the next run publishes, and readers move on.
    land_flights(lake, DAY, clean_flights(DAY))
    assert run_assets(lake, instance, FLIGHTS, DAY).success
    pointer = store.pointer(list(CURATED), DAY)
    assert pointer["previous_version"] == published[tuple(CURATED)][0]
    assert pointer["checks"]["audit"] == "passed"
    assert store.read_table(store.resolve(list(CURATED), DAY)).equals(original)
    assert store.resolve(list(CURATED), DAY)["uri"].startswith("s3://" if lake.kind == "s3" else "file://")
