"""Classification: declared with contracts, enforced over the graph, shown in the UI, and
applied by the catalog. A small crew domain of the test's own holds a restricted column."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from platform_assets.catalog import Catalog
from platform_assets.definitions import build_definitions
from platform_assets.domains.flights.contracts import CONTRACTS
from platform_assets.governance import audit_log
from platform_assets.governance.access import ROLE_VARIABLE, AccessDeniedError
from platform_assets.governance.classification import (
    CLASSIFICATION_TAG,
    Classification,
    ClassificationError,
    asset_classification,
    classified,
    column_classes,
    contract_default,
    declassified,
    underclassified,
)
from platform_assets.lake.io_manager import VersionedParquetIOManager
from platform_assets.quality.audit import AuditSpec, attach_contracts, audit_checks
from platform_assets.quality.contracts import COLUMN_SCHEMA_KEY
from platform_assets_tests.conftest import Lake

# The crew domain: a roster with a restricted licence number, and per-base aggregates.


class CrewRoster(pa.DataFrameModel):
    crew_id: Series[str] = pa.Field(unique=True, metadata=classified("confidential"))
    base: Series[str]
    licence_number: Series[str] = pa.Field(metadata=classified("restricted"))
    hours: Series[float] = pa.Field(ge=0)

    class Config:
        metadata = contract_default("internal")


class CrewHoursByBase(pa.DataFrameModel):
    base: Series[str] = pa.Field(unique=True)
    crew: Series[int] = pa.Field(
        metadata=declassified("internal", "a head count per base names nobody", derived_from=["crew_id"])
    )
    hours: Series[float]

    class Config:
        metadata = contract_default("internal")


class LeakyCrewExport(pa.DataFrameModel):
    """A careless consumer: copies the licence number and labels it internal."""

    base: Series[str]
    licence: Series[str] = pa.Field(metadata=classified("internal", derived_from=["licence_number"]))
    crew_id: Series[str]

    class Config:
        metadata = contract_default("internal")


ROSTER = ("curated", "crew_roster")
HOURS = ("serving", "crew_hours_by_base")
LEAKY = ("serving", "crew_export")
ROSTER_ROWS = pd.DataFrame(
    {
        "crew_id": ["c1", "c2", "c3"],
        "base": ["JFK", "JFK", "EWR"],
        "licence_number": ["ATP-111", "ATP-222", "CPL-333"],
        "hours": [10.0, 12.5, 7.0],
    }
)


@dg.asset(key=list(ROSTER))
def crew_roster() -> pd.DataFrame:
    return ROSTER_ROWS


@dg.asset(
    key=list(HOURS),
    ins={"roster": dg.AssetIn(list(ROSTER), metadata={"columns": ["base", "crew_id", "hours"]})},
)
def crew_hours_by_base(roster: pd.DataFrame) -> pd.DataFrame:
    grouped = roster.groupby("base", as_index=False).agg(crew=("crew_id", "count"), hours=("hours", "sum"))
    return grouped


@dg.asset(key=list(LEAKY), ins={"roster": dg.AssetIn(list(ROSTER))})
def crew_export(roster: pd.DataFrame) -> pd.DataFrame:
    return roster.rename(columns={"licence_number": "licence"})[["base", "licence", "crew_id"]]


CREW_CONTRACTS = {ROSTER: CrewRoster, HOURS: CrewHoursByBase, LEAKY: LeakyCrewExport}
CREW_AUDITS = [AuditSpec(ROSTER, CrewRoster), AuditSpec(HOURS, CrewHoursByBase)]


def test_every_flights_column_is_classified_and_no_derived_column_is_less_than_its_inputs() -> None:
    defs = build_definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    assert underclassified(assets, CONTRACTS) == []
    for key, contract in CONTRACTS.items():
        columns = column_classes(contract)  # raises for a column without a level
        spec = next(a for a in assets if dg.AssetKey(list(key)) in a.keys).specs_by_key[
            dg.AssetKey(list(key))
        ]
        assert spec.tags[CLASSIFICATION_TAG] == asset_classification(contract).label
        schema = spec.metadata[COLUMN_SCHEMA_KEY]
        assert {c.name: c.tags[CLASSIFICATION_TAG] for c in schema.columns} == {
            n: c.level.label for n, c in columns.items()
        }
    # The choices the contracts justify: tail numbers on flights are internal, wherever they flow.
    assert column_classes(CONTRACTS[("raw", "flights")])["tailnum"].level is Classification.INTERNAL
    assert (
        column_classes(CONTRACTS[("serving", "flight_delay_features")])["tailnum"].level
        is Classification.INTERNAL
    )
    assert asset_classification(CONTRACTS[("serving", "route_daily")]) is Classification.PUBLIC


def test_the_graph_rule_catches_an_underclassified_copy_and_accepts_an_explicit_declassification() -> None:
    problems = underclassified([crew_roster, crew_hours_by_base, crew_export], CREW_CONTRACTS)
    assert sorted((p.asset, p.column, p.required) for p in problems) == [
        ("serving/crew_export", "crew_id", Classification.CONFIDENTIAL),
        ("serving/crew_export", "licence", Classification.RESTRICTED),
    ]
    assert any("made from ['curated/crew_roster.licence_number']" in str(p) for p in problems)
    # Lowering flights' tail number on the features table is caught by the same walk.
    weakened = type(
        "WeakFeatures",
        (CONTRACTS[("serving", "flight_delay_features")],),
        {
            "__annotations__": {"tailnum": Series[str]},
            "tailnum": pa.Field(nullable=True, metadata=classified("public")),
        },
    )
    assets = [a for a in build_definitions().assets if isinstance(a, dg.AssetsDefinition)]
    found = underclassified(assets, {**CONTRACTS, ("serving", "flight_delay_features"): weakened})
    assert [(p.asset, p.column) for p in found] == [("serving/flight_delay_features", "tailnum")]


def test_a_contract_without_a_level_and_a_bad_lineage_are_errors() -> None:
    class Unlabelled(pa.DataFrameModel):
        x: Series[int]

    with pytest.raises(ClassificationError, match=r"Unlabelled.x has no classification"):
        column_classes(Unlabelled)

    class Typo(pa.DataFrameModel):
        base: Series[str] = pa.Field(metadata=classified("internal", derived_from=["bsae"]))

    with pytest.raises(ClassificationError, match=r"derived_from names 'bsae'"):
        underclassified([crew_hours_by_base], {ROSTER: CrewRoster, HOURS: Typo})
    with pytest.raises(ClassificationError, match=r"'secret' is not a classification"):
        classified("secret")


def _materialize_crew(lake: Lake) -> None:
    assets = attach_contracts([crew_roster, crew_hours_by_base], CREW_AUDITS)
    checks = audit_checks(assets, CREW_AUDITS, {})
    resources = {"lake": lake.resource, "io_manager": VersionedParquetIOManager(lake=lake.resource)}
    result = dg.materialize([*assets, *checks], resources=resources, instance=dg.DagsterInstance.ephemeral())
    assert result.success


def test_catalog_refuses_a_restricted_column_without_the_role(lake: Lake, monkeypatch) -> None:
    _materialize_crew(lake)
    manifest = Catalog(lake.storage, role="steward").manifest("curated/crew_roster")
    assert manifest["classification"]["asset"] == "restricted"
    assert manifest["classification"]["columns"]["licence_number"] == "restricted"

    analyst = Catalog(lake.storage)  # no role named: the default, analyst (up to internal)
    with pytest.raises(AccessDeniedError) as refused:
        analyst.load("curated/crew_roster")
    message = str(refused.value)
    assert "curated/crew_roster is restricted" in message and "licence_number (restricted)" in message
    with pytest.raises(AccessDeniedError, match="licence_number"):
        analyst.load("curated/crew_roster", columns=["base", "licence_number"])
    with pytest.raises(AccessDeniedError):
        analyst.sql("SELECT base FROM crew_roster")  # a query's columns are not known ahead: whole table
    assert analyst.load("curated/crew_roster", columns=["base", "hours"])["hours"].sum() == pytest.approx(
        29.5
    )
    hours = analyst.load("serving/crew_hours_by_base").set_index("base")  # declassified aggregate
    assert hours.loc["JFK", "crew"] == 2 and hours.loc["EWR", "hours"] == pytest.approx(7.0)

    engineer = Catalog(lake.storage, role="engineer")  # cleared for confidential, not restricted
    assert list(engineer.load("curated/crew_roster", columns=["crew_id"])["crew_id"]) == ["c1", "c2", "c3"]
    with pytest.raises(AccessDeniedError, match="role 'engineer' may read up to confidential"):
        engineer.load("curated/crew_roster")
    monkeypatch.setenv(ROLE_VARIABLE, "steward")
    full = Catalog(lake.storage).load("curated/crew_roster")
    pd.testing.assert_series_equal(full["licence_number"], ROSTER_ROWS["licence_number"])

    reads = audit_log.read_records(
        lake.storage, asset="curated/crew_roster", action=audit_log.ACTION_CATALOG_READ
    )
    outcomes = [(r.details["role"], r.outcome) for r in reads]
    assert outcomes == [
        ("analyst", "denied"), ("analyst", "denied"), ("analyst", "denied"), ("analyst", "ok"),
        ("engineer", "ok"), ("engineer", "denied"), ("steward", "ok"),
    ]  # fmt: skip


def test_an_unknown_role_is_refused_by_name(lake: Lake) -> None:
    with pytest.raises(
        ClassificationError, match=r"reader role 'admin' is not one of \['analyst', 'engineer'"
    ):
        Catalog(lake.storage, role="admin")
