"""Canary runs: the code as it is now, on a slice of partitions, beside what is published.

`run_canary` materializes the selected assets with their audit checks into an
isolated namespace of the same lake (`<root>/canary/<id>/`, see canary_lake.py),
reading the published upstream versions, in an ephemeral Dagster instance so the
real instance's asset history stays the history of published data. Each canary
partition is then compared with the published one (comparison.py) and judged by
`[canary.tolerance]`: a code change that was meant to change nothing must show no
difference; one that was meant to change something shows exactly what and how much."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from platform_assets.lake.history import AUDIT_FAILED, audit_state
from platform_assets.lake.provenance import code_provenance
from platform_assets.lake.resources import LakeResource
from platform_assets.lake.versions import KIND_PARQUET, VersionStore
from platform_assets.maintenance.canary_lake import CanaryLakeResource, canary_only, check_canary_id
from platform_assets.maintenance.comparison import Comparison, compare_tables
from platform_assets.maintenance.config import Tolerance


@dataclass
class PartitionResult:
    """One asset partition: the canary's version against the published one."""

    asset: str
    partition: str | None
    canary_version: str | None = None
    published_version: str | None = None
    comparison: Comparison | None = None
    canary_audit: str = "-"
    canary_failed_checks: list[str] = field(default_factory=list)
    published_audit: str = "-"
    published_failed_checks: list[str] = field(default_factory=list)
    canary_seconds: float | None = None
    published_seconds: float | None = None
    violations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "comparison"}
        out["comparison"] = self.comparison.to_dict() if self.comparison else None
        return out


@dataclass
class CanaryReport:
    canary_id: str
    lake_url: str
    code: dict[str, Any]
    started_at: str
    slice: dict[str, list[str]]
    assets: list[str]
    tolerance: Tolerance
    results: list[PartitionResult] = field(default_factory=list)
    run_seconds: dict[str, float] = field(default_factory=dict)
    run_errors: dict[str, str] = field(default_factory=dict)

    @property
    def exceeded(self) -> bool:
        return bool(self.run_errors) or any(r.violations for r in self.results)

    @property
    def comparisons(self) -> list[Comparison]:
        return [r.comparison for r in self.results if r.comparison is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "canary_id": self.canary_id,
            "lake_url": self.lake_url,
            "canary_url": f"{self.lake_url}/canary/{self.canary_id}",
            "code": {k: self.code.get(k) for k in ("git_commit", "git_dirty", "lock_sha256")},
            "started_at": self.started_at,
            "slice": self.slice,
            "assets": self.assets,
            "tolerance": vars(self.tolerance),
            "exceeded": self.exceeded,
            "run_seconds": self.run_seconds,
            "run_errors": self.run_errors,
            "results": [r.to_dict() for r in self.results],
        }


def new_canary_id(now: datetime | None = None) -> str:
    """Sorts by start time; unique per run."""
    now = now or datetime.now(UTC)
    return check_canary_id(f"{now:%Y%m%dt%H%M%S}-{uuid.uuid4().hex[:6]}")


def _seconds(manifest: Mapping[str, Any]) -> float | None:
    """How long the step that wrote a version took until its manifest, from the manifest's timings."""
    timings = manifest.get("timings") or {}
    parts = [timings.get("seconds_before_write"), timings.get("write_seconds")]
    return round(sum(p for p in parts if p is not None), 3) if any(p is not None for p in parts) else None


def _failed(checks: Mapping[str, Any]) -> list[str]:
    return sorted(
        n
        for n, r in checks.items()
        if isinstance(r, dict) and r.get("passed") is False and r.get("severity", "ERROR") == "ERROR"
    )


def compare_partition(
    published: VersionStore,
    canary: VersionStore,
    key: Sequence[str],
    partition: str | None,
    row_key: Sequence[str],
    tolerance: Tolerance,
) -> PartitionResult:
    """The newest canary version of a partition against the published version."""
    result = PartitionResult("/".join(key), partition)
    written = canary.versions(key, partition)
    if not written:
        result.violations.append("the canary wrote no version")
        return result
    canary_manifest = canary.manifest(key, partition, written[-1])
    result.canary_version = written[-1]
    result.canary_seconds = _seconds(canary_manifest)
    result.canary_audit, checks = audit_state(canary, canary_manifest)
    result.canary_failed_checks = _failed(checks)
    result.published_version = published.published_version(key, partition)
    if result.published_version is None:
        result.violations.append("nothing published to compare with")
        return result
    published_manifest = published.resolve(key, partition)
    result.published_seconds = _seconds(published_manifest)
    result.published_audit, checks = audit_state(published, published_manifest)
    result.published_failed_checks = _failed(checks)
    if result.canary_audit == AUDIT_FAILED:
        result.violations.append(f"the canary failed its audit: {', '.join(result.canary_failed_checks)}")
    if canary_manifest["kind"] == KIND_PARQUET:
        result.comparison = compare_tables(
            result.asset,
            partition,
            published.read_table(published_manifest),
            canary.read_table(canary_manifest),
            row_key,
            tolerance.quantiles,
        )
        result.violations += result.comparison.violations(tolerance)
    elif canary_manifest["content_hash"] != published_manifest["content_hash"]:
        result.violations.append("the file's bytes differ from the published file")
    return result


def run_canary(
    lake: LakeResource,
    select: Sequence[Sequence[str]],
    slice_days: Mapping[str, list[str]],
    row_keys: Mapping[str, Sequence[str]],
    tolerance: Tolerance,
    canary_id: str | None = None,
) -> CanaryReport:
    """Materialize `select` for each day of the slice under the canary prefix, then compare."""
    import dagster as dg

    from platform_assets.definitions import build_definitions

    canary_id = check_canary_id(canary_id or new_canary_id())
    # The lake named explicitly: a canary runs in a throw-away instance on purpose (its
    # history is not the published data's), which LakeResource only allows for a named lake.
    settings = lake.settings()
    resource = CanaryLakeResource(
        lake_url=settings.lake_url, endpoint_url=settings.s3_endpoint_url, canary_id=canary_id
    )
    real = lake.versions()
    report = CanaryReport(
        canary_id=canary_id,
        lake_url=real.storage.url,
        code=code_provenance(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        slice=dict(slice_days),
        assets=["/".join(k) for k in select],
        tolerance=tolerance,
    )
    defs = build_definitions(resource)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    by_key = {tuple(k.path): a for a in assets for k in a.keys}
    unknown = [k for k in select if tuple(k) not in by_key]
    if unknown:
        raise ValueError(f"not assets of this code location: {['/'.join(k) for k in unknown]}")
    partitioned = [dg.AssetKey(list(k)) for k in select if by_key[tuple(k)].partitions_def is not None]
    whole = [dg.AssetKey(list(k)) for k in select if by_key[tuple(k)].partitions_def is None]
    runs: list[tuple[str | None, list[dg.AssetKey]]] = [(None, whole)] if whole else []
    runs += [(day, partitioned) for day in sorted(slice_days)] if partitioned else []
    instance = dg.DagsterInstance.ephemeral()
    for day, keys in runs:
        started = time.perf_counter()
        result = dg.materialize(
            [*assets, *(defs.asset_checks or [])],
            selection=keys,
            resources=defs.resources,
            instance=instance,
            partition_key=day,
            raise_on_error=False,
            tags={"platform/canary": canary_id},
        )
        label = day or "unpartitioned"
        report.run_seconds[label] = round(time.perf_counter() - started, 3)
        if not result.success:
            failures = [e.message or "" for e in result.all_events if e.is_failure]
            report.run_errors[label] = (failures[0] if failures else "run failed")[:500]
    canary = canary_only(real.storage, canary_id)
    for day, keys in runs:
        for key in keys:
            name = "/".join(key.path)
            report.results.append(
                compare_partition(real, canary, key.path, day, row_keys.get(name, []), tolerance)
            )
    return report
