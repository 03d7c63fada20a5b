"""The lake as a Dagster resource: one place that maps the environment to storage."""

import dataclasses

import dagster as dg
from pydantic import PrivateAttr

from platform_assets.lake.identity import ensure_lake_identity
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets.settings import Settings


class LakeResource(dg.ConfigurableResource):
    """The lake root. Empty fields fall back to the environment (`PLATFORM_LAKE_URL`, ...),
    read when a run starts, never when the code location is imported."""

    lake_url: str | None = None
    endpoint_url: str | None = None
    target_file_mb: float | None = None
    # The identity this run acts as (its `zone` tag), set when the run starts.
    _identity: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Act as the run's zone identity, so a run can write only its own zone."""
        from platform_assets.governance.identity import run_identity

        run = context.run
        if run is not None:
            keys = [*(run.asset_selection or ()), *(c.asset_key for c in run.asset_check_selection or ())]
            self._identity = run_identity(dict(run.tags), [key.path[0] for key in keys])

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
        from platform_assets.governance.guard import open_lake

        s = self.settings()
        storage = open_lake(s, self._identity)  # as the run's identity, after governance's checks
        ensure_lake_identity(s)
        return storage

    def versions(self) -> VersionStore:
        return VersionStore(self.storage(), self.settings().target_file_bytes)
