"""The Prometheus config and alert rules in deploy/prometheus/, checked by Prometheus's own tool.

`promtool` comes with Debian's prometheus package (`make test` installs it). The rule
unit tests in alerts_test.yml show each alert firing on the series that should page and
staying quiet on its neighbours; these tests make them part of the suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing; `make test` installs Debian's prometheus package")
    return subprocess.run(
        [tool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120, check=False
    )


def _rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_scrape_config_is_valid() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_are_valid_and_each_has_a_runbook() -> None:
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = _rules()
    readme = (PROMETHEUS_DIR.parents[1] / "README.md").read_text().lower()
    for rule in rules:
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor == rule["alert"].lower()
        assert f"#### {rule['alert'].lower()}" in readme, f"README has no runbook for {rule['alert']}"


def test_alert_rules_fire_and_stay_quiet_as_specified() -> None:
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set()
    for line in (PROMETHEUS_DIR / "alerts_test.yml").read_text().splitlines():
        if "alertname:" in line:
            tested.add(line.split("alertname:", 1)[1].strip())
    assert {r["alert"] for r in _rules()} <= tested, "every alert rule needs a unit test"
