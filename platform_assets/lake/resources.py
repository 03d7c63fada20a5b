"""The lake as a Dagster resource: one place that maps the environment to storage."""

import dataclasses
from functools import lru_cache

import dagster as dg

from platform_assets.lake.identity import ensure_lake_identity
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets.settings import Settings


@lru_cache(maxsize=16)
def _storage(url: str, endpoint: str | None, region: str, retries: int, ca_bundle: str | None) -> LakeStorage:
    return LakeStorage.from_url(
        url, endpoint_url=endpoint, region=region, retries=retries, ca_bundle=ca_bundle
    )


class LakeResource(dg.ConfigurableResource):
    """The lake root. Empty fields fall back to the environment (`PLATFORM_LAKE_URL`, ...),
    read when a run starts, never when the code location is imported."""

    lake_url: str | None = None
    endpoint_url: str | None = None
    target_file_mb: float | None = None

    def settings(self) -> Settings:
        settings = Settings.from_env()
        overrides: dict[str, object] = {}
        if self.lake_url:
            overrides["lake_url"] = self.lake_url
        if self.endpoint_url:
            overrides["s3_endpoint_url"] = self.endpoint_url
        if self.target_file_mb:
            overrides["target_file_bytes"] = int(self.target_file_mb * 1024 * 1024)
        return dataclasses.replace(settings, **overrides)

    def storage(self) -> LakeStorage:
        """The lake, once its identity record names this process's environment.

        Every asset, IO manager and sensor reaches the lake through here, so the
        environment check runs before any of them reads or writes."""
        s = self.settings()
        ensure_lake_identity(s)
        return _storage(s.lake_url, s.s3_endpoint_url, s.s3_region, s.storage_retries, s.s3_ca_bundle)

    def versions(self) -> VersionStore:
        return VersionStore(self.storage(), self.settings().target_file_bytes)
