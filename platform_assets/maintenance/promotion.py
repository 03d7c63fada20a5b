"""Promotion: move an audited version from one environment's lake to another's, with its evidence.

Per partition, in this order, and nothing is copied unless every partition asked for
passes its gates (a month is promoted whole or not at all):
  1. the source's published version passed every blocking check (`_audit.json`);
  2. compared with what the target publishes now, the differences are within the
     configured tolerance, or accepted by name (`--accept-differences --reason`);
  3. a sensitive dataset has an approver (`--approved-by`).
Then, in a first phase for every partition, each version is copied file by file,
its content hash is recomputed from the bytes now in the target, and its audit
record and a manifest naming its origin are written (the manifest last: it is the
commit marker). Only when all are staged does a second phase move the target's
pointers, through `VersionStore.publish(event="promote")`. A failure in the first
phase leaves what the target's readers see untouched; a failure among the pointer
writes puts back the pointers already moved.
The version id is kept, so promoting the same version again is recognised and
does nothing."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from platform_assets.lake import layout
from platform_assets.lake.history import (
    AUDIT_FILE,
    AUDIT_PASSED,
    audit_state,
    current_user,
    parallel_map,
)
from platform_assets.lake.versions import KIND_PARQUET, VersionError, VersionStore
from platform_assets.maintenance.comparison import Comparison, compare_tables
from platform_assets.maintenance.config import MaintenanceConfig
from platform_assets.maintenance.lakes import NamedLake

EVENT_PROMOTE = "promote"
READY = "ready"
ALREADY = "already promoted"
REFUSED = "refused"
PROMOTED = "promoted"
COPY_WORKERS = 8


class PromotionError(RuntimeError):
    """A promotion that was refused or could not be completed; the target's readers are unaffected."""


@dataclass
class Evidence:
    """What was checked for one partition before anything moved."""

    asset: str
    partition: str | None
    source_version: str | None
    target_version: str | None
    audit: str = "-"
    failed_checks: list[str] = field(default_factory=list)
    comparison: Comparison | None = None
    differences: list[str] = field(default_factory=list)
    sensitive: bool = False
    refusals: list[str] = field(default_factory=list)
    status: str = READY
    content_hash: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The evidence as the target's manifest and pointer record it."""
        return {
            "audit": self.audit,
            "failed_checks": self.failed_checks,
            "replaced_version": self.target_version,
            "differences": self.differences,
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "sensitive": self.sensitive,
        }


@dataclass(frozen=True)
class Request:
    """Who asks for a promotion, and what they vouch for."""

    actor: str
    reason: str | None = None
    accept_differences: bool = False
    approved_by: str | None = None


def _key_text(key: Sequence[str]) -> str:
    return "/".join(key)


def _gather(
    source: VersionStore,
    target: VersionStore,
    key: Sequence[str],
    partition: str | None,
    row_key: Sequence[str],
    config: MaintenanceConfig,
    request: Request,
) -> Evidence:
    """The evidence for one partition, read from both lakes; nothing is written."""
    name = _key_text(key)
    source_version = source.published_version(key, partition)
    evidence = Evidence(name, partition, source_version, target.published_version(key, partition))
    evidence.sensitive = name in config.sensitive_assets
    if source_version is None:
        evidence.refusals.append("nothing published in the source")
        evidence.status = REFUSED
        return evidence
    manifest = source.manifest(key, partition, source_version)
    evidence.content_hash = manifest["content_hash"]
    evidence.audit, checks = audit_state(source, manifest)
    evidence.failed_checks = sorted(
        n
        for n, r in checks.items()
        if isinstance(r, dict) and r.get("passed") is False and r.get("severity", "ERROR") == "ERROR"
    )
    if evidence.target_version == source_version:
        current = target.manifest(key, partition, source_version)
        if current["content_hash"] == manifest["content_hash"]:
            evidence.status = ALREADY
            return evidence
        evidence.refusals.append(f"the target publishes {source_version} with other content")
    if evidence.audit != AUDIT_PASSED:
        evidence.refusals.append(
            f"version {source_version} is {evidence.audit} in the source"
            + (f" (failed: {', '.join(evidence.failed_checks)})" if evidence.failed_checks else "")
        )
    if evidence.target_version is not None and manifest["kind"] == KIND_PARQUET:
        published = target.manifest(key, partition, evidence.target_version)
        evidence.comparison = compare_tables(
            name,
            partition,
            target.read_table(published),
            source.read_table(manifest),
            row_key,
            config.promotion.quantiles,
        )
        evidence.differences = evidence.comparison.violations(config.promotion)
        if evidence.differences and not request.accept_differences:
            evidence.refusals.append("differences beyond tolerance; pass --accept-differences --reason")
    if evidence.sensitive and not request.approved_by:
        evidence.refusals.append("sensitive dataset: needs --approved-by")
    if evidence.refusals:
        evidence.status = REFUSED
    return evidence


def _content_hash(manifest: Mapping[str, Any], digests: Sequence[str]) -> str:
    """The content hash as `VersionStore` defines it: over the file digests for tables,
    the one file's digest for landed files."""
    if manifest["kind"] == KIND_PARQUET:
        return hashlib.sha256("".join(digests).encode()).hexdigest()
    return digests[0]


def _copy_verified(source: VersionStore, target: VersionStore, manifest: dict[str, Any]) -> None:
    """Copy a version's data files and audit record, then re-hash what the target now holds."""
    prefix = layout.version_path(manifest["asset_key"], manifest["partition"], manifest["version"])
    target.storage.prepare_dir(prefix)
    for entry in manifest["files"]:
        name = layout.check_file_name(entry["name"])
        data = source.storage.read_bytes(f"{prefix}/{name}")
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise PromotionError(
                f"{source.storage.uri(prefix)}/{name} does not match its manifest's checksum"
            )
        target.storage.write_bytes(f"{prefix}/{name}", data)
    try:
        target.storage.write_bytes(
            f"{prefix}/{AUDIT_FILE}", source.storage.read_bytes(f"{prefix}/{AUDIT_FILE}")
        )
    except FileNotFoundError:
        pass  # the verdict lives in the manifest's checks
    _verify(target, manifest)


def _verify(store: VersionStore, manifest: dict[str, Any]) -> None:
    """Recompute the content hash from the bytes `store` holds; refuse a mismatch before publishing."""
    prefix = layout.version_path(manifest["asset_key"], manifest["partition"], manifest["version"])
    digests = [
        hashlib.sha256(store.storage.read_bytes(f"{prefix}/{e['name']}")).hexdigest()
        for e in manifest["files"]
    ]
    recomputed = _content_hash(manifest, digests)
    if recomputed != manifest["content_hash"]:
        raise PromotionError(
            f"{store.storage.uri(prefix)}: content hash {recomputed[:12]} after the copy, "
            f"{manifest['content_hash'][:12]} in the source; the pointer was not moved"
        )


def _stage(
    source: NamedLake,
    target: NamedLake,
    evidence: Evidence,
    request: Request,
) -> Evidence:
    """Phase one for a partition: the verified copy and its manifest; no pointer moves."""
    started = time.perf_counter()
    key = evidence.asset.split("/")
    src, dst = VersionStore(source.storage), VersionStore(target.storage)
    version = str(evidence.source_version)
    manifest = src.manifest(key, evidence.partition, version)
    prefix = layout.version_path(key, evidence.partition, version)
    try:
        existing = dst.manifest(key, evidence.partition, version)
    except VersionError:
        existing = None
    if existing is not None and existing["content_hash"] != manifest["content_hash"]:
        raise PromotionError(f"{dst.storage.uri(prefix)} exists with other content; versions are immutable")
    if existing is not None:
        # A complete copy from an earlier, interrupted promotion: re-verified, never trusted.
        _verify(dst, manifest)
    else:
        _copy_verified(src, dst, manifest)
        promotion = {
            "source_env": source.env,
            "source_url": source.storage.url,
            "source_manifest_uri": manifest.get("manifest_uri"),
            "source_version": version,
            "content_hash": manifest["content_hash"],
            "promoted_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "actor": request.actor,
            "approved_by": request.approved_by,
            "reason": request.reason,
            "accepted_differences": bool(evidence.differences),
            "evidence": evidence.summary(),
        }
        body = {**manifest, "promotion": promotion}
        body["manifest_uri"] = dst.storage.uri(f"{prefix}/{layout.MANIFEST_FILE}")
        body["uri"] = dst.storage.uri(prefix)
        payload = json.dumps(body, indent=2, sort_keys=True, default=str).encode()
        dst.storage.write_bytes(f"{prefix}/{layout.MANIFEST_FILE}", payload)  # the commit marker, last
    evidence.seconds = time.perf_counter() - started
    return evidence


def _publish(source: NamedLake, target: NamedLake, evidence: Evidence, request: Request) -> Evidence:
    """Phase two for a partition: move the target's pointer to the staged version."""
    started = time.perf_counter()
    dst = VersionStore(target.storage)
    key = evidence.asset.split("/")
    dst.publish(
        key,
        evidence.partition,
        str(evidence.source_version),
        event=EVENT_PROMOTE,
        actor=request.actor,
        reason=request.reason,
        checks={
            "audit": evidence.audit,
            "source_env": source.env,
            "source_url": source.storage.url,
            "content_hash": evidence.content_hash,
            "differences": len(evidence.differences),
            "accepted_differences": bool(evidence.differences),
            "approved_by": request.approved_by,
        },
    )
    evidence.status = PROMOTED
    evidence.seconds += time.perf_counter() - started
    return evidence


def gather_evidence(
    source: NamedLake,
    target: NamedLake,
    selection: Mapping[tuple[str, ...], Sequence[str | None]],
    row_keys: Mapping[str, Sequence[str]],
    config: MaintenanceConfig,
    request: Request,
) -> list[Evidence]:
    """Evidence for every (asset, partition) asked for, read concurrently from both lakes."""
    src, dst = VersionStore(source.storage), VersionStore(target.storage)
    jobs = [(key, partition) for key, partitions in selection.items() for partition in partitions]

    def one(job: tuple[tuple[str, ...], str | None]) -> Evidence:
        key, partition = job
        return _gather(src, dst, key, partition, row_keys.get(_key_text(key), []), config, request)

    return parallel_map(one, jobs, workers=COPY_WORKERS)


def promote(
    source: NamedLake,
    target: NamedLake,
    evidence: Sequence[Evidence],
    request: Request,
) -> list[Evidence]:
    """Copy and publish every ready partition; refuse the whole set if any partition was refused."""
    refused = [e for e in evidence if e.status == REFUSED]
    if refused:
        first = refused[0]
        raise PromotionError(
            f"{len(refused)} of {len(evidence)} partition(s) refused, nothing copied; first: "
            f"{first.asset} {first.partition or ''}: {'; '.join(first.refusals)}"
        )
    if any(e.differences for e in evidence) and not request.reason:
        raise PromotionError("accepting differences needs a --reason for the audit trail")
    ready = [e for e in evidence if e.status == READY]
    # Phase one, the slow part: every version copied, verified and committed. A failure
    # here has moved no pointer, so the target's readers see exactly what they saw.
    parallel_map(lambda e: _stage(source, target, e, request), ready, workers=COPY_WORKERS)

    # Phase two: one small pointer write per partition; if any fails, the others are put back.
    def publish_one(one: Evidence) -> tuple[Evidence, BaseException | None]:
        try:
            return _publish(source, target, one, request), None
        except Exception as error:  # noqa: BLE001 - collected, compensated, re-raised below
            return one, error

    outcomes = parallel_map(publish_one, ready, workers=COPY_WORKERS)
    errors = [error for _, error in outcomes if error is not None]
    if errors:
        _restore(target, [one for one, error in outcomes if error is None], request)
        raise errors[0]
    return [one for one, _ in outcomes]


def _restore(target: NamedLake, moved: Sequence[Evidence], request: Request) -> None:
    """Put back the pointers a failed phase two had already moved (best effort, then re-raise).

    A partition that had nothing published before keeps its new version: the lake has
    no "unpublish", and that version passed every gate; the error names the promotion
    as incomplete and re-running it finishes the rest."""
    dst = VersionStore(target.storage)
    for one in moved:
        if one.target_version is not None:
            dst.publish(
                one.asset.split("/"),
                one.partition,
                one.target_version,
                event="rollback",
                actor=request.actor,
                reason="promotion aborted part-way; restored the version published before it",
            )


def report_promotion(
    target: NamedLake, source: NamedLake, done: Evidence, request: Request, instance: Any
) -> None:
    """Record a promotion on the asset in the target's Dagster instance (its UI's timeline).

    An observation, like a rollback: the data was produced elsewhere, and the target's
    materialization history should keep meaning "built here"."""
    import dagster as dg

    from platform_assets.lake.io_manager import META_CONTENT_HASH, META_MANIFEST, META_VERSION

    key = done.asset.split("/")
    manifest_uri = target.storage.uri(
        f"{layout.version_path(key, done.partition, str(done.source_version))}/{layout.MANIFEST_FILE}"
    )
    metadata = {
        "platform/event": EVENT_PROMOTE,
        META_VERSION: done.source_version,
        "platform/previous_version": done.target_version or "",
        META_MANIFEST: dg.MetadataValue.url(manifest_uri),
        META_CONTENT_HASH: done.content_hash or "",
        "platform/source_env": source.env or "",
        "platform/source_url": source.storage.url,
        "platform/actor": request.actor,
        "platform/approved_by": request.approved_by or "",
        "platform/reason": request.reason or "",
        "platform/audit": done.audit,
        "platform/differences": dg.MetadataValue.json({"accepted": done.differences}),
    }
    instance.report_runless_asset_event(
        dg.AssetObservation(asset_key=dg.AssetKey(key), partition=done.partition, metadata=metadata)
    )


def default_request(
    reason: str | None, accept_differences: bool, approved_by: str | None, actor: str | None = None
) -> Request:
    return Request(actor or current_user(), reason, accept_differences, approved_by)
