"""How a version was made: the manifest facts the IO manager adds, and how they reach the UI.

The manifest beside the data is the durable record (it outlives any Dagster instance);
the materialization event repeats its key facts so a user can go from a partition
in the UI to its manifest, its exact upstream versions and its commit. The content
hash becomes the Dagster data version, so a rebuild that produced the same bytes
shows as unchanged and does not make downstream assets stale."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from platform_assets.lake.provenance import code_provenance, resolved_config
from platform_assets.settings import Settings

META_GIT_DIRTY = "platform/git_dirty"
META_CODE_VERSION = "platform/code_version"
META_LOCK = "platform/lock_sha256"
META_PYTHON = "platform/python"
# Written by `governance.classification.definition_metadata`; recorded in every manifest.
CLASSIFICATION_METADATA_KEY = "platform/classification"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _step_started_at(context: dg.OutputContext) -> datetime | None:
    """When this step started, from the run's event log (None outside a real run)."""
    try:
        step = context.step_context
        records = step.instance.get_records_for_run(
            step.run_id, of_type=dg.DagsterEventType.STEP_START
        ).records
    except Exception:  # noqa: BLE001 - timings are informative; never fail a write for them
        return None
    for record in records:
        if record.event_log_entry.step_key == context.step_key:
            return datetime.fromtimestamp(record.event_log_entry.timestamp, UTC)
    return None


def _run_config(context: dg.OutputContext) -> Any:
    try:
        return context.step_context.op_config
    except Exception:  # noqa: BLE001 - ops without config, or no step context
        return None


def _classification(context: dg.OutputContext) -> dict[str, Any] | None:
    """The asset's and its columns' classification, as its contract declares (None without one)."""
    if not context.has_asset_key:
        return None
    value = context.asset_spec.metadata.get(CLASSIFICATION_METADATA_KEY)
    value = getattr(value, "value", value)
    return value if isinstance(value, dict) else None


def manifest_extra(context: dg.OutputContext, settings: Settings) -> dict[str, Any]:
    """Facts every version written by this output shares.

    `checks` is the hook for write-audit-publish: verdicts known before the write go
    here; audits that run after the manifest is committed write `_audit.json` beside
    it instead (`history.record_audit`), since a committed manifest never changes."""
    now = datetime.now(UTC)
    started = _step_started_at(context)
    return {
        "env": settings.env,  # as in every log record and metric sample, beside `run_id`
        "code_version": context.asset_spec.code_version if context.has_asset_key else None,
        "code": code_provenance(),
        "config": resolved_config(settings.public_dict(), _run_config(context)),
        "dagster": {
            "run_id": context.run_id,
            "job_name": context.job_name,
            "step_key": context.step_key,
        },
        "checks": None,
        "classification": _classification(context),
        "timings": {
            "step_started_at": _iso(started) if started else None,
            "write_started_at": _iso(now),
            "seconds_before_write": round((now - started).total_seconds(), 3) if started else None,
        },
    }


def provenance_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    """The code and environment facts every event of one output shares."""
    code = manifest["code"]
    return {
        META_GIT_DIRTY: code.get("git_dirty"),
        META_CODE_VERSION: manifest.get("code_version") or "",
        META_LOCK: code.get("lock_sha256") or "",
        META_PYTHON: code.get("python") or "",
    }


def upstream_entry(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a consumer's manifest records about one input: enough to open it again."""
    return {
        "asset": "/".join(manifest["asset_key"]),
        "partition": manifest["partition"],
        "version": manifest["version"],
        "content_hash": manifest["content_hash"],
        "manifest_uri": manifest.get("manifest_uri"),
    }


def data_version(manifests: list[dict[str, Any]]) -> dg.DataVersion:
    """The content hash as a Dagster data version.

    Dagster keeps one data version per output, not per partition, so a single-run
    backfill gets a hash over its partitions' content hashes (unchanged when every
    partition is); each event still carries its own partition's hash as metadata."""
    if len(manifests) == 1:
        return dg.DataVersion(manifests[0]["content_hash"])
    lines = sorted(f"{m['partition']}:{m['content_hash']}" for m in manifests)
    return dg.DataVersion(hashlib.sha256("\n".join(lines).encode()).hexdigest())


def record_data_version(context: dg.OutputContext, manifests: list[dict[str, Any]]) -> None:
    """Make the content hash the version Dagster records for this output.

    An IO manager cannot return `Output(data_version=...)`; it can set the step's data
    version before the materialization events are built, which is what that does.
    A version the asset itself returned takes precedence."""
    if not manifests or not context.has_asset_key:
        return
    step = context.step_context
    if not step.has_data_version(context.asset_key):
        step.set_data_version(context.asset_key, data_version(manifests))
