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
from typing import Any
from urllib.parse import urlparse

ENVIRONMENTS = ("dev", "staging", "prod")
# Set by deploy/Dockerfile (and so by compose and Helm): a process started from the
# image is "container-like" and must be told its environment; it never defaults to dev.
REQUIRE_EXPLICIT_ENV = "PLATFORM_REQUIRE_EXPLICIT_ENV"
# Kubernetes sets this in every pod: a pod is container-like even from another image.
_KUBERNETES_MARKER = "KUBERNETES_SERVICE_HOST"
# The keys platform.toml may hold, with their types; anything else is refused.
CONFIG_KEYS: dict[str, type | tuple[type, ...]] = {
    "lake_url": str,
    "target_file_mb": (int, float),
    "s3_region": str,
    "storage_retries": int,
    "init_lake_on_first_use": bool,
    "require_https_endpoint": bool,
}


class SettingsError(ValueError):
    """The environment does not describe a usable platform configuration."""


def _config_file() -> dict[str, dict[str, Any]]:
    text = resources.files("platform_assets").joinpath("platform.toml").read_text()
    return tomllib.loads(text)


def validate_config(config: Mapping[str, Any], source: str = "platform.toml") -> None:
    """Refuse sections and keys the code does not act on, and values of the wrong type.

    A key nobody reads is a promise nobody keeps; failing here names it instead."""
    for section, values in config.items():
        if section not in ("default", *ENVIRONMENTS):
            raise SettingsError(f"{source}: unknown section [{section}]")
        for key, value in values.items():
            expected = CONFIG_KEYS.get(key)
            if expected is None:
                raise SettingsError(f"{source}: [{section}] {key} is not a setting the platform reads")
            if isinstance(value, bool) and expected is not bool:
                raise SettingsError(f"{source}: [{section}] {key} must be a number, not true/false")
            if not isinstance(value, expected):
                raise SettingsError(f"{source}: [{section}] {key} has the wrong type: {value!r}")
    missing = sorted(set(CONFIG_KEYS) - set(config.get("default", {})))
    if missing:
        raise SettingsError(f"{source}: [default] lacks {', '.join(missing)}")


def container_like(environ: Mapping[str, str]) -> bool:
    """Whether this process runs from the platform image or in a Kubernetes pod."""
    marker = environ.get(REQUIRE_EXPLICIT_ENV, "").strip().lower()
    return marker in ("1", "true", "yes") or bool(environ.get(_KUBERNETES_MARKER))


def _environment(environ: Mapping[str, str]) -> str:
    raw = environ.get("PLATFORM_ENV")
    if raw is None or not raw.strip():
        if container_like(environ):
            raise SettingsError(
                "PLATFORM_ENV is not set, and this process runs in a container "
                f"({REQUIRE_EXPLICIT_ENV} or Kubernetes): set PLATFORM_ENV=staging or prod "
                "explicitly instead of defaulting to dev with a lake inside the container"
            )
        return "dev"
    env = raw.strip().lower()
    if env not in ENVIRONMENTS:
        raise SettingsError(f"PLATFORM_ENV={raw!r} is not one of {', '.join(ENVIRONMENTS)}")
    return env


def _endpoint(environ: Mapping[str, str], env: str, require_https: bool) -> str | None:
    endpoint = environ.get("AWS_ENDPOINT_URL", "").strip() or None
    if endpoint is None:
        return None
    scheme = urlparse(endpoint).scheme
    if scheme not in ("http", "https"):
        raise SettingsError(f"AWS_ENDPOINT_URL={endpoint!r} must start with https://")
    if scheme == "http" and require_https:
        raise SettingsError(
            f"AWS_ENDPOINT_URL={endpoint!r} is plain http, refused when PLATFORM_ENV={env}: "
            "use an https:// endpoint (AWS_CA_BUNDLE names a private CA)"
        )
    return endpoint


@dataclass(frozen=True)
class Settings:
    env: str
    lake_url: str
    s3_endpoint_url: str | None
    s3_region: str
    target_file_bytes: int
    storage_retries: int
    init_lake_on_first_use: bool
    # A PEM bundle for a private CA (AWS_CA_BUNDLE, as boto3 reads it); pyarrow is given it too.
    s3_ca_bundle: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Resolve settings from `platform.toml` and the environment.

        Outside dev the environment and the lake must be named explicitly: a staging
        or prod process that silently fell back to a default is the failure we refuse."""
        environ = os.environ if environ is None else environ
        env = _environment(environ)
        config = _config_file()
        validate_config(config)
        values: dict[str, Any] = {**config["default"], **config.get(env, {})}

        lake_url = environ.get("PLATFORM_LAKE_URL", "").strip()
        if not lake_url:
            if env != "dev":
                raise SettingsError(f"PLATFORM_LAKE_URL must be set when PLATFORM_ENV={env}")
            lake_url = str(values["lake_url"])
        if env != "dev" and not lake_url.startswith("s3://"):
            raise SettingsError(f"PLATFORM_ENV={env} needs an s3:// lake, got {lake_url!r}")
        if "://" not in lake_url:
            lake_url = str(Path(lake_url).expanduser().resolve())

        try:
            target_mb = float(environ.get("PLATFORM_TARGET_FILE_MB", values["target_file_mb"]))
        except ValueError:
            raise SettingsError("PLATFORM_TARGET_FILE_MB must be a number") from None
        if target_mb <= 0:
            raise SettingsError("PLATFORM_TARGET_FILE_MB must be positive")
        if int(values["storage_retries"]) < 1:
            raise SettingsError("platform.toml: storage_retries must be at least 1")
        ca_bundle = environ.get("AWS_CA_BUNDLE", "").strip() or None
        if ca_bundle and not Path(ca_bundle).is_file():
            raise SettingsError(f"AWS_CA_BUNDLE={ca_bundle!r} is not a file")
        return cls(
            env=env,
            lake_url=lake_url,
            s3_endpoint_url=_endpoint(environ, env, bool(values["require_https_endpoint"])),
            s3_region=(
                environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or str(values["s3_region"])
            ),
            target_file_bytes=int(target_mb * 1024 * 1024),
            storage_retries=int(values["storage_retries"]),
            init_lake_on_first_use=bool(values["init_lake_on_first_use"]),
            s3_ca_bundle=ca_bundle,
        )

    def public_dict(self) -> dict[str, object]:
        """The resolved configuration as recorded in manifests (no secrets live here)."""
        return {
            "env": self.env,
            "lake_url": self.lake_url,
            "s3_endpoint_url": self.s3_endpoint_url,
            "s3_region": self.s3_region,
            "target_file_bytes": self.target_file_bytes,
        }
