"""Facts about the code and environment a version was built with.

Computed once per process: a run writes hundreds of versions and they all share
the same commit, lock and interpreter."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

KEY_PACKAGES = ("dagster", "pandas", "pyarrow", "duckdb", "pandera", "scikit-learn", "skops")
LOCK_FILE = "requirements.lock"
PACKAGE = "platform_assets"
REDACTED = "<redacted>"
# Keys whose values are never written to a manifest, whatever config they appear in.
_SECRET_KEY = re.compile(r"secret|password|passwd|token|credential|private|access_key|api_key", re.I)


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=_project_root(), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _lock_file() -> Path | None:
    """The dependency lock this environment was installed from.

    A checkout has it at the project root; an image installs the package into
    site-packages and keeps the lock in its working directory (or names it in
    PLATFORM_LOCK_FILE)."""
    named = os.environ.get("PLATFORM_LOCK_FILE")
    candidates = [Path(named)] if named else [_project_root() / LOCK_FILE, Path.cwd() / LOCK_FILE]
    return next((path for path in candidates if path.is_file()), None)


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def environment_provenance() -> dict[str, Any]:
    """The installed distributions, interpreter and key package versions.

    Listing the distributions takes about 0.3 s. The warm run launcher
    (`platform_assets/run_launcher.py`) computes this once in its warm process, which it
    replaces when anything is installed into or removed from the environment."""
    installed = sorted(
        f"{dist.metadata['Name']}=={dist.version}".lower() for dist in metadata.distributions()
    )
    return {
        "installed_sha256": hashlib.sha256("\n".join(installed).encode()).hexdigest(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "packages": {name: _package_version(name) for name in KEY_PACKAGES},
    }


@lru_cache(maxsize=1)
def code_provenance() -> dict[str, Any]:
    """Commit (and whether the tree was dirty), lock hash, interpreter and packages.

    A deployed image has no .git; it passes PLATFORM_GIT_COMMIT instead."""
    commit = os.environ.get("PLATFORM_GIT_COMMIT") or _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    lock = _lock_file()
    return {
        "git_commit": commit or "unknown",
        # Set by deploy/Dockerfile: which image built the version, beside its commit.
        "image_id": os.environ.get("PLATFORM_IMAGE_ID") or None,
        "git_dirty": bool(status) if status is not None else None,
        "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock else None,
        **environment_provenance(),
    }


def redact(value: Any) -> Any:
    """`value` with secret-looking keys masked and credentials stripped from URLs.

    Manifests are read by everyone who can read the lake, so configuration is
    recorded only after this pass, whatever its source."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _SECRET_KEY.search(str(k)) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        parts = urlsplit(value)
        if parts.password or parts.username:
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port else host
            return urlunsplit(parts._replace(netloc=netloc))
    return value


@lru_cache(maxsize=1)
def config_files() -> dict[str, Any]:
    """Every TOML constants file shipped in the package, parsed.

    Constants such as thresholds live in these files rather than in code, so a
    manifest records their values: a dirty tree or an edited installed file would
    otherwise change results with no trace."""
    found: dict[str, Any] = {}
    root = resources.files(PACKAGE)
    stack = [(root, PACKAGE)]
    while stack:
        folder, name = stack.pop()
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.name.startswith(("_", ".")):
                stack.append((entry, f"{name}/{entry.name}"))
            elif entry.name.endswith(".toml"):
                found[f"{name}/{entry.name}"] = redact(tomllib.loads(entry.read_text()))
    return dict(sorted(found.items()))


def resolved_config(settings: Mapping[str, Any], run_config: Any = None) -> dict[str, Any]:
    """The configuration a version was built under: platform settings after environment
    overrides, the shipped constants files, and the run's own config for the step."""
    return {
        "settings": redact(dict(settings)),
        "files": config_files(),
        "run": redact(run_config) if run_config else None,
    }
