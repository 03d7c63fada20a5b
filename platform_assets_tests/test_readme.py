"""Every shell and Python example in README.md runs as written, on a lake built the way `make dev` builds it.

The project is laid out as a fresh clone after `make dev`: `.venv` (this test's own
virtualenv), `.dagster_home/dagster.yaml` copied from the repository, January 2013
landed into `.lake/`, and the assets and days the examples name built with everything
upstream of them (what `make dev`'s sensors do for every asset and day of January;
building only what the examples use keeps the test short). Each block then runs in
order, in a fresh shell in that folder, with none of the platform's variables set and
the virtualenv not on PATH: as a user pastes it into a new terminal.

A block is left out only when the line before its fence says so, with a reason:
`<!-- readme-test: skip (why) -->`. Skips show in the test report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.cli import main as platform_cli
from platform_assets.definitions import build_definitions
from platform_assets_tests.conftest import Lake

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# The notebook-to-production guide: its blocks land and build their own slice, in order.
GUIDE = REPO / "docs" / "notebook-to-production.md"
SHELL = {"bash", "sh", "shell"}
PYTHON = {"python", "py"}
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->$")
MARKER = re.compile(r"<!--\s*readme-test")
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
# Days the examples address as partitions: built before the examples run, as `make dev` would have.
NAMED_DAY = re.compile(r"""(?:--partition[ =]|partitions=\[\s*)["']?(2013-01-\d\d)""")
# Assets the examples read or write, as `zone/name` (CLI) or `zone.name` (SQL).
NAMED_ASSET = re.compile(r"\b((?:raw|curated|serving)[/.][a-z][a-z0-9_]*)")
LANDED = ("2013-01-01", "2013-01-31")  # what `make dev` lands (Makefile FIRST_MONTH_*)
PLATFORM_VARIABLES = (
    "DAGSTER_HOME",
    "PLATFORM_LAKE_URL",
    "PLATFORM_ENV",
    "AWS_ENDPOINT_URL",
    "PLATFORM_ALLOW_",
)
BLOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    lang: str
    code: str
    skip: str | None  # the marker's reason
    doc: str = "README.md"

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}-{self.lang}"


def readme_blocks(text: str, doc: str = "README.md") -> list[Block]:
    """Every fenced block, with the skip reason its marker gives; a malformed marker is an error."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            if MARKER.search(lines[index]) and not SKIP.match(lines[index].strip()):
                raise ValueError(f"{doc}:{index + 1}: a readme-test marker must read {SKIP.pattern}")
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        before = next((lines[i].strip() for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = SKIP.match(before)
        code = "\n".join(lines[index + 1 : end]) + "\n"
        blocks.append(
            Block(index + 1, opening["lang"].lower(), code, marker["reason"] if marker else None, doc)
        )
        index = end + 1
    return blocks


def examples() -> list[Block]:
    """The blocks a user would type or paste: shell and Python."""
    return [b for b in readme_blocks(README.read_text()) if b.lang in SHELL | PYTHON]


def guide_examples() -> list[Block]:
    text = GUIDE.read_text()
    return [b for b in readme_blocks(text, "docs/notebook-to-production.md") if b.lang in SHELL | PYTHON]


def _user_environment() -> dict[str, str]:
    """A new terminal's environment: no platform variables, the virtualenv not on PATH."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(PLATFORM_VARIABLES)}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout after `make dev`: virtualenv, instance, January landed, the named days built."""
    root = tmp_path_factory.mktemp("clone")
    (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    home = root / ".dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    lake = Lake("local", str(root / ".lake"), None)
    runnable = [block.code for block in examples() if not block.skip]
    days = sorted({day for code in runnable for day in NAMED_DAY.findall(code)})
    named = sorted({match for code in runnable for match in NAMED_ASSET.findall(code)})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_LAKE_URL", lake.url)
        patch.setenv("DAGSTER_HOME", str(home))
        start, end = LANDED
        assert platform_cli(["land", "--if-empty", "--quiet", "--start", start, "--end", end]) == 0
        with dg.DagsterInstance.get() as instance:  # the project's instance, as the daemon uses it
            _build(lake, instance, named, days)
    return root


def _build(lake: Lake, instance: dg.DagsterInstance, named: list[str], days: list[str]) -> None:
    """What `make dev`'s sensors would have built for `days`: the named assets and their upstream."""
    defs = build_definitions(lake.resource)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    wanted = dg.AssetSelection.assets(*[dg.AssetKey(name.replace(".", "/").split("/")) for name in named])
    keys = wanted.upstream().resolve(defs.resolve_asset_graph())
    partitioned = {key for a in assets if a.partitions_def is not None for key in a.keys}
    everything = [*assets, *(defs.asset_checks or [])]
    reference = [key for key in keys if key not in partitioned]
    daily = [key for key in keys if key in partitioned]
    if reference:
        run = dg.materialize(everything, selection=reference, resources=defs.resources, instance=instance)
        assert run.success
    for day in days if daily else []:
        run = dg.materialize(
            everything, selection=daily, partition_key=day, resources=defs.resources, instance=instance
        )
        assert run.success, day


def test_readme_markers_are_well_formed_and_explain_themselves() -> None:
    blocks = readme_blocks(README.read_text())
    skipped = [b for b in blocks if b.skip]
    assert skipped and all(len(b.skip.strip()) > 10 for b in skipped)  # a reason, not a shrug
    unknown = [b.id for b in blocks if b.lang in {"console", "shell-session", "zsh", "ipython"}]
    assert not unknown, f"use ```bash or ```python (or a skip marker) for {unknown}"


@pytest.fixture(scope="module")
def guide_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout with nothing landed: the guide's own blocks land and build its slice."""
    root = tmp_path_factory.mktemp("guide")
    (root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    (root / ".dagster_home").mkdir()
    shutil.copy(REPO / "dagster.yaml", root / ".dagster_home" / "dagster.yaml")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    return root


@pytest.mark.parametrize("block", guide_examples(), ids=lambda b: b.id)
def test_guide_example_runs_as_written(block: Block, guide_project: Path) -> None:
    _run_block(block, guide_project)


@pytest.mark.parametrize("block", examples(), ids=lambda b: b.id)
def test_readme_example_runs_as_written(block: Block, project: Path) -> None:
    _run_block(block, project)


def _run_block(block: Block, project: Path) -> None:
    if block.skip:
        pytest.skip(f"marked in {block.doc}: {block.skip}")
    if block.lang in SHELL:
        command = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    else:
        command = [str(project / ".venv" / "bin" / "python"), "-c", block.code]
    done = subprocess.run(
        command, cwd=project, env=_user_environment(), capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{block.id} failed ({done.returncode}):\n{block.code}\n{output[-4000:]}"
    assert "Traceback" not in _without_kernel_shutdown_noise(output), f"{block.id}:\n{output[-4000:]}"


# A Jupyter kernel asked to stop while it flushes its output sometimes logs this from its
# own event loop (ipykernel's control channel after its socket closed); the notebook
# has already run and its result is checked by the exit code and the block's output.
_KERNEL_SHUTDOWN = re.compile(
    r"ERROR:tornado\.general:Uncaught exception in ZMQStream callback\nTraceback \(most recent call last\):\n"
    r"(?:[ \t].*\n)*zmq\.error\.ZMQError: Socket operation on non-socket\n?"
)


def _without_kernel_shutdown_noise(output: str) -> str:
    return _KERNEL_SHUTDOWN.sub("", output)
