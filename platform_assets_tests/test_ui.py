"""The Dagster UI, rendered by a real headless Chromium (Debian's package).

Starts `dagster-webserver` for this code location on a free loopback port and reads
the DOM after the page's JavaScript has run: what a user opening `make dev` sees."""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets_tests.conftest import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is missing; `make test` installs Debian's chromium")
    return path


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("ui_home")
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "PLATFORM_LAKE_URL": str(home / "lake")}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            str(REPO / "workspace.yaml"),
        ],  # fmt: skip
        cwd=home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("dagster-webserver did not come up")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def rendered_text(url: str, screenshot: Path | None = None) -> str:
    """The page's visible text after its scripts ran (and optionally a screenshot)."""
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000"]
        if screenshot is not None:
            subprocess.run(
                [_chromium(), *flags, "--window-size=1600,1000", f"--screenshot={screenshot}", url],
                capture_output=True,
                timeout=120,
            )
        done = subprocess.run(
            [_chromium(), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    page = re.sub(r"<(script|style).*?</\1>", " ", done.stdout, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def rendered_when_ready(url: str, marker: str, screenshot: Path | None = None) -> str:
    """Render until `marker` shows: the UI loads its data asynchronously, and on a busy
    machine the first render can come before the code location has answered."""
    text = ""
    for _ in range(5):
        text = rendered_text(url, screenshot)
        if marker in text:
            return text
        time.sleep(2)
    return text


def test_lineage_shows_the_three_zones(webserver: str, tmp_path: Path) -> None:
    screenshot = tmp_path / "lineage.png"
    text = rendered_when_ready(f"{webserver}/asset-groups", "serving", screenshot)
    assert "Global asset lineage" in text
    for zone in ("raw", "curated", "serving"):
        assert re.search(rf"\b{zone}\b", text), zone
    assert screenshot.stat().st_size > 10_000


def test_both_domains_show_in_the_zone_groups(webserver: str) -> None:
    """Each zone group lists its assets of both domains, each with its own calendar."""
    group = f"{webserver}/locations/platform_assets/asset-groups"
    raw = rendered_when_ready(f"{group}/raw/list", "seattle_weather")
    assert "raw / flights" in raw and "raw / seattle_weather" in raw
    assert "365 partitions" in raw and "1,461 partitions" in raw  # 2013's days; 2012-2015's days
    serving = rendered_when_ready(f"{group}/serving/list", "seattle_weather_monthly")
    assert "serving / carrier_daily_performance" in serving and "serving / seattle_weather_monthly" in serving
    assert "48 partitions" in serving  # the weather domain's months
    page = rendered_when_ready(f"{webserver}/assets/serving/seattle_weather_monthly", "Per month")
    assert "domain: seattle_weather" in page and "zone: serving" in page
    assert "curated / seattle_weather" in page  # its upstream: the days of the month


def test_asset_page_shows_description_tags_and_upstream(webserver: str) -> None:
    text = rendered_when_ready(f"{webserver}/assets/serving/carrier_daily_performance", "Per day")
    assert "Per day and carrier" in text
    assert "zone: serving" in text and "domain: flights" in text
    assert "curated / flights" in text  # its upstream, from the asset graph
