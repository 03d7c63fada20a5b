"""Who may read what through the catalog: the reader's role against the data's classification.

The classification comes from the manifests of the versions being read, so a reader
is judged against what those versions hold, not against today's code. A read of some
columns is judged on those columns; a read of the whole table (or a SQL query, whose
columns are not known in advance) on the most classified column. Every read, allowed
or refused, goes to the audit log."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from platform_assets.governance import audit_log
from platform_assets.governance.classification import (
    Classification,
    default_role,
    record_of,
    role_clearance,
    unlabelled_level,
)
from platform_assets.lake.storage import LakeStorage

ROLE_VARIABLE = "PLATFORM_READER_ROLE"
CATALOG_SERVICE = "catalog"


class AccessDeniedError(PermissionError):
    """A read of data more classified than the reader's role may see."""


def reader_role(role: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The role named explicitly, else PLATFORM_READER_ROLE, else the configured default; checked."""
    environ = os.environ if environ is None else environ
    chosen = role or environ.get(ROLE_VARIABLE) or default_role()
    role_clearance(chosen)  # refuses unknown roles by name
    return chosen


def column_levels(
    manifests: Sequence[Mapping[str, Any]], columns: Sequence[str] | None
) -> dict[str, Classification]:
    """The most classified level of each read column across the versions read."""
    levels: dict[str, Classification] = {}
    for manifest in manifests:
        record = record_of(manifest)
        if record is None:
            names = columns if columns is not None else [f["name"] for f in manifest.get("schema", [])]
            found = {name: unlabelled_level() for name in names} or {"*": unlabelled_level()}
        else:
            recorded = {name: Classification.parse(level) for name, level in record["columns"].items()}
            asset_level = Classification.parse(record["asset"])
            names = columns if columns is not None else list(recorded) or ["*"]
            # A column the contract does not list (e.g. the partition column) takes the asset's level.
            found = {name: recorded.get(name, asset_level) for name in names}
        for name, level in found.items():
            levels[name] = max(levels.get(name, Classification.PUBLIC), level)
    return levels


def authorize_read(
    storage: LakeStorage,
    asset: str,
    manifests: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None,
    role: str,
) -> audit_log.AuditRecord:
    """Record the read and allow it, or record the refusal and raise `AccessDeniedError`."""
    clearance = role_clearance(role)
    levels = column_levels(manifests, columns)
    too_high = {name: level for name, level in levels.items() if level > clearance}
    partitions = [m["partition"] for m in manifests]
    versions = [m["version"] for m in manifests]
    highest = max(levels.values(), default=Classification.PUBLIC)
    details = {
        "role": role,
        "columns": list(columns) if columns is not None else None,
        "level": highest.label,
        # Bytes of the data files the read may open: the exporter's catalog_read_bytes_total.
        "bytes": sum(int(f.get("bytes") or 0) for m in manifests for f in m.get("files", [])),
    }
    outcome = audit_log.OUTCOME_DENIED if too_high else audit_log.OUTCOME_OK
    record = audit_log.append(
        storage,
        audit_log.ACTION_CATALOG_READ,
        asset=asset,
        partitions=partitions,
        versions=versions,
        outcome=outcome,
        service=CATALOG_SERVICE,
        details=details,
    )
    if too_high:
        worst = max(too_high.values())
        named = ", ".join(f"{name} ({level.label})" for name, level in sorted(too_high.items()))
        raise AccessDeniedError(
            f"{asset} is {worst.label}: role {role!r} may read up to {clearance.label}, and the read "
            f"includes {named}; ask for a role cleared for {worst.label} (set {ROLE_VARIABLE})"
        )
    return record
