"""Environment and configuration, read once and validated.

Nothing in this module runs at import time: callers ask for `Settings.from_env()`
when they need it, so tests can hand in their own environment."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

ENVIRONMENTS = ("dev", "staging", "prod")


class SettingsError(ValueError):
    """The environment does not describe a usable platform configuration."""


def _config_file() -> dict[str, dict[str, object]]:
    text = resources.files("platform_assets").joinpath("platform.toml").read_text()
    return tomllib.loads(text)


@dataclass(frozen=True)
class Settings:
    env: str
    lake_url: str
    s3_endpoint_url: str | None
    s3_region: str
    target_file_bytes: int
    require_encryption: bool
    storage_retries: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Resolve settings from `platform.toml` and the environment.

        Outside dev the lake must be named explicitly: a staging or prod process that
        silently fell back to a default location is the failure we refuse to allow."""
        environ = os.environ if environ is None else environ
        env = environ.get("PLATFORM_ENV", "dev").strip().lower()
        if env not in ENVIRONMENTS:
            raise SettingsError(f"PLATFORM_ENV={env!r} is not one of {', '.join(ENVIRONMENTS)}")
        config = _config_file()
        values: dict[str, object] = {**config["default"], **config.get(env, {})}

        lake_url = environ.get("PLATFORM_LAKE_URL", "").strip()
        if not lake_url:
            if env != "dev":
                raise SettingsError(f"PLATFORM_LAKE_URL must be set when PLATFORM_ENV={env}")
            lake_url = str(values["lake_url"])
        if env != "dev" and not lake_url.startswith("s3://"):
            raise SettingsError(f"PLATFORM_ENV={env} needs an s3:// lake, got {lake_url!r}")
        if "://" not in lake_url:
            lake_url = str(Path(lake_url).expanduser().resolve())

        target_mb = float(environ.get("PLATFORM_TARGET_FILE_MB", values["target_file_mb"]))
        if target_mb <= 0:
            raise SettingsError("PLATFORM_TARGET_FILE_MB must be positive")
        return cls(
            env=env,
            lake_url=lake_url,
            s3_endpoint_url=environ.get("AWS_ENDPOINT_URL") or None,
            s3_region=(
                environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or str(values["s3_region"])
            ),
            target_file_bytes=int(target_mb * 1024 * 1024),
            require_encryption=bool(values["require_encryption"]),
            storage_retries=int(values["storage_retries"]),
        )

    def public_dict(self) -> dict[str, object]:
        """The resolved configuration as recorded in manifests (no secrets live here)."""
        return {
            "env": self.env,
            "lake_url": self.lake_url,
            "s3_endpoint_url": self.s3_endpoint_url,
            "s3_region": self.s3_region,
            "target_file_bytes": self.target_file_bytes,
            "require_encryption": self.require_encryption,
        }
