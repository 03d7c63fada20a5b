"""Governance settings: governance.toml per environment, overridden by the environment."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from platform_assets.settings import ENVIRONMENTS, SettingsError

PROFILE_ENV = "PLATFORM_IDENTITY_PROFILE"
KMS_KEY_ENV = "PLATFORM_KMS_KEY_ID"


@lru_cache(maxsize=1)
def _config_file() -> dict[str, dict[str, object]]:
    """Parsed once: every `LakeResource.storage()` call consults it."""
    return tomllib.loads(resources.files(__package__).joinpath("governance.toml").read_text())


@dataclass(frozen=True)
class GovernanceSettings:
    identity_profile: str  # template with `{identity}`; "" = ambient credentials
    require_encryption: bool
    kms_key_id: str | None

    @classmethod
    def load(cls, env: str, environ: Mapping[str, str] | None = None) -> GovernanceSettings:
        """Read once per lake opening; `env` is the already validated PLATFORM_ENV."""
        environ = os.environ if environ is None else environ
        if env not in ENVIRONMENTS:
            raise SettingsError(f"unknown environment {env!r}")
        config = _config_file()
        values = {**config["default"], **config.get(env, {})}
        template = environ.get(PROFILE_ENV, str(values["identity_profile"])).strip()
        if template and "{identity}" not in template:
            raise SettingsError(
                f"identity_profile {template!r} (governance.toml or {PROFILE_ENV}) must contain {{identity}}"
            )
        require = values["require_encryption"]
        if not isinstance(require, bool):
            raise SettingsError(f"governance.toml [{env}] require_encryption must be true or false")
        if env != "dev" and not require:
            raise SettingsError(f"governance.toml: PLATFORM_ENV={env} must keep require_encryption = true")
        return cls(
            identity_profile=template,
            require_encryption=require,
            kms_key_id=(environ.get(KMS_KEY_ENV) or "").strip() or None,
        )
