"""`platform new-domain` writes a domain that passes its own test and the linters as generated.

The domain is generated into a copy of the project (the package, the test helpers,
the lint and test configuration: what the generated test needs), and its test runs
there in a fresh interpreter, exactly as `make test` would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from platform_assets.scaffold import ScaffoldError, validate_name

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPIED = ["platform_assets", "platform_assets_tests/__init__.py", "platform_assets_tests/conftest.py",
          "platform_assets_tests/webhook.py", "platform_assets_tests/staged_lake.py", "pyproject.toml",
          "requirements.lock", "dagster.yaml"]  # fmt: skip
NAME = "energy_readings_northern_gridz"  # long: the templates stay lint-clean for any length


def _copy_project(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for rel in COPIED:
        source, destination = REPO / rel, target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, destination)


def test_a_generated_domain_passes_its_own_test_and_the_linters(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _copy_project(project)
    env = {**os.environ, "PYTHONPATH": str(project), "PLATFORM_LAKE_URL": str(tmp_path / "unused-lake")}
    run = subprocess.run(
        [str(BIN / "platform"), "new-domain", NAME],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert f"wrote platform_assets/domains/{NAME}/source.py" in run.stdout
    generated = [
        project / "platform_assets/domains" / NAME,
        project / f"platform_assets_tests/test_domain_{NAME}.py",
    ]
    for lint in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [str(BIN / "ruff"), *lint, *map(str, generated)], cwd=project, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    test = subprocess.run(
        [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         f"platform_assets_tests/test_domain_{NAME}.py"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert test.returncode == 0, test.stdout[-4000:] + test.stderr[-2000:]
    assert "1 passed" in test.stdout
    # The generated domain is a real one now: generating it again is refused by name.
    again = subprocess.run(
        [str(BIN / "platform"), "new-domain", NAME], cwd=project, env=env, capture_output=True, text=True
    )
    assert again.returncode == 1 and f"domain {NAME!r} exists already" in again.stderr


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Energy", "lowercase identifier"),
        ("9lives", "lowercase identifier"),
        ("energy-prices", "lowercase identifier"),
        ("class", "Python keyword"),
        ("flights", "exists already"),
        ("seattle_weather", "exists already"),
    ],
)
def test_a_bad_or_taken_name_is_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(ScaffoldError, match=reason):
        validate_name(name)
