"""The lake as a Dagster resource: one place that maps the environment to storage."""

import dataclasses
import os

import dagster as dg
from pydantic import PrivateAttr

from platform_assets.lake.identity import ensure_lake_identity
from platform_assets.lake.run_process import tune_collector
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets.settings import Settings

# Set to 1 to let a run with a throwaway Dagster instance write the lake the environment names.
ALLOW_THROWAWAY_INSTANCE_ENV = "PLATFORM_ALLOW_THROWAWAY_INSTANCE"
# Dagster's CLI names the temporary instance it makes when DAGSTER_HOME is unset this way.
_CLI_TEMPORARY_HOME_PREFIX = ".tmp_dagster_home_"


class ThrowawayInstanceError(RuntimeError):
    """A run would publish into the shared lake from a Dagster instance the UI never sees."""


def throwaway_instance(instance: dg.DagsterInstance | None) -> bool:
    """Whether `instance` disappears with the process: in memory, or the CLI's temporary home."""
    if instance is None:
        return False
    if instance.is_ephemeral:
        return True
    root = os.path.basename(os.path.normpath(getattr(instance, "root_directory", "") or ""))
    return root.startswith(_CLI_TEMPORARY_HOME_PREFIX)


class LakeResource(dg.ConfigurableResource):
    """The lake root. Empty fields fall back to the environment (`PLATFORM_LAKE_URL`, ...),
    read when a run starts, never when the code location is imported."""

    lake_url: str | None = None
    endpoint_url: str | None = None
    target_file_mb: float | None = None
    # The identity this run acts as (its `zone` tag), set when the run starts.
    _identity: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Act as the run's zone identity (so a run can write only its own zone), tune the
        collector for the run's work (see `run_process`), and refuse to run against the
        environment's lake from a throwaway instance.

        `dagster asset materialize` without DAGSTER_HOME runs in a temporary instance
        that is deleted when the command exits, yet it would publish into the lake every
        other process shares: the UI's "latest materialization" would then name a
        superseded version. A lake named explicitly on the resource (tests, benchmarks,
        scripts with their own temporary lake) is a deliberate choice and is left alone;
        so is a run with `PLATFORM_ALLOW_THROWAWAY_INSTANCE=1`."""
        from platform_assets.governance.identity import run_identity

        tune_collector()
        run = context.run
        if run is not None:
            keys = [*(run.asset_selection or ()), *(c.asset_key for c in run.asset_check_selection or ())]
            self._identity = run_identity(dict(run.tags), [key.path[0] for key in keys])
        if self.lake_url or context.run is None or not throwaway_instance(context.instance):
            return
        if os.environ.get(ALLOW_THROWAWAY_INSTANCE_ENV, "").strip() in ("1", "true", "yes"):
            return
        raise ThrowawayInstanceError(
            f"refusing to write the lake {self.settings().lake_url} from a throwaway Dagster instance "
            "(DAGSTER_HOME is unset, so this run would vanish from the UI while its versions stay "
            "published). Point DAGSTER_HOME at the project's instance, e.g. "
            "`export DAGSTER_HOME=$PWD/.dagster_home` in the repository (as `make dev` does), "
            f"or set {ALLOW_THROWAWAY_INSTANCE_ENV}=1 to write anyway."
        )

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
        ensure_lake_identity(s, storage)
        return storage

    def versions(self) -> VersionStore:
        return VersionStore(self.storage(), self.settings().target_file_bytes)
