"""The audit log: one immutable record per action that changed or read the lake.

    <root>/_audit_log/date=<day>/<utc time>-<uuid>.json

Every publish, rollback and promotion (`VersionStore.publish`), every deletion by
retention (`maintenance.retention`) and every catalog read goes through `append`,
the only writer. A record is created once and never rewritten: on S3 the PUT carries
`If-None-Match: *`, so the bucket itself refuses to replace an existing record; on a
local lake the record is linked into place, which fails if the name exists. The
pointer's own history stays short (the last 100 moves); this log is the complete
record of who read or changed what, and when.

One record is one small PUT: a 365-partition backfill adds 365 of them per asset,
beside the ~4 requests each partition's data, manifest and pointer already cost."""

from __future__ import annotations

import getpass
import json
import os
import posixpath
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from platform_assets.governance.s3 import is_local
from platform_assets.lake.storage import LakeStorage, PreconditionFailed

AUDIT_ROOT = "_audit_log"
ACTION_PUBLISH = "publish"
ACTION_ROLLBACK = "rollback"
ACTION_PROMOTE = "promote"
ACTION_GC_DELETE = "gc_delete"
ACTION_CATALOG_READ = "catalog_read"
OUTCOME_OK = "ok"
OUTCOME_DENIED = "denied"
IDENTITY_VARIABLE = "PLATFORM_IDENTITY"
SERVICE_VARIABLE = "PLATFORM_SERVICE"
USER_VARIABLES = ("PLATFORM_USER", "USER", "LOGNAME")
_READ_WORKERS = 16


class AuditLogError(RuntimeError):
    """An audit record that could not be written (the action it records must not pass silently)."""


@dataclass(frozen=True)
class AuditRecord:
    """Who did what to which data, when, and how it ended."""

    action: str
    asset: str | None
    partitions: list[str | None]
    versions: list[str]
    outcome: str
    actor: str
    identity: str
    service: str
    at: str
    id: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, default=str).encode()


def current_user(environ: Mapping[str, str] | None = None) -> str:
    """The person or run acting: PLATFORM_USER, else the login name."""
    environ = os.environ if environ is None else environ
    for name in USER_VARIABLES:
        if environ.get(name):
            return environ[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def current_identity(storage: LakeStorage, environ: Mapping[str, str] | None = None) -> str:
    """The storage identity the process acts as: named explicitly, else its AWS profile.

    Access keys are never recorded; a deployment names its identity in PLATFORM_IDENTITY
    (e.g. the IAM role of the run's zone)."""
    environ = os.environ if environ is None else environ
    if environ.get(IDENTITY_VARIABLE):
        return environ[IDENTITY_VARIABLE]
    if is_local(storage):
        return f"local:{current_user(environ)}"
    if storage.identity.access_key:  # the run's zone identity (governance.identity)
        return f"aws-profile:{storage.identity.name}"
    if environ.get("AWS_PROFILE"):
        return f"aws-profile:{environ['AWS_PROFILE']}"
    return "aws:default-credentials"


def current_service(environ: Mapping[str, str] | None = None) -> str:
    """The program acting (dagster, platform, a notebook's python), unless a deployment names it."""
    environ = os.environ if environ is None else environ
    return environ.get(SERVICE_VARIABLE) or posixpath.basename(sys.argv[0] or "python") or "python"


def _record_path(at: datetime, record_id: str) -> str:
    return f"{AUDIT_ROOT}/date={at:%Y-%m-%d}/{at:%Y%m%dT%H%M%S%f}Z-{record_id}.json"


def append(
    storage: LakeStorage,
    action: str,
    *,
    asset: str | Sequence[str] | None,
    partitions: Iterable[str | None] = (),
    versions: Iterable[str] = (),
    outcome: str = OUTCOME_OK,
    actor: str | None = None,
    service: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Write one record, create-only; raise `AuditLogError` when it cannot be written."""
    now = datetime.now(UTC)
    record = AuditRecord(
        action=action,
        asset=asset if asset is None or isinstance(asset, str) else "/".join(asset),
        partitions=list(partitions),
        versions=list(versions),
        outcome=outcome,
        actor=actor or current_user(),
        identity=current_identity(storage),
        service=service or current_service(),
        at=now.isoformat(timespec="microseconds"),
        id=uuid.uuid4().hex,
        details=dict(details or {}),
    )
    rel = _record_path(now, record.id)
    body = record.to_json()
    try:
        _create(storage, rel, body)
    except Exception as error:
        raise AuditLogError(f"could not write audit record {storage.uri(rel)}: {error}") from error
    return record


def _create(storage: LakeStorage, rel: str, body: bytes) -> None:
    """Create the record through the storage's create-only write (S3 `If-None-Match: *`, a
    hard link locally): it fails if the name exists, and no reader sees half a record."""
    try:
        storage.write_object_if(rel, body, expected=None)
    except PreconditionFailed:
        # The name is a fresh uuid: an existing object is our own earlier attempt whose answer was lost.
        existing = storage.read_object(rel)
        if existing is None or existing[0] != body:
            raise AuditLogError(
                f"{storage.uri(rel)} exists with other content; records are never replaced"
            ) from None


def _parse_time(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_records(
    storage: LakeStorage,
    *,
    asset: str | None = None,
    since: str | datetime | None = None,
    action: str | None = None,
) -> list[AuditRecord]:
    """Records oldest first, filtered by asset (exact `zone/name`), time and action.

    Only the day folders on or after `since` are listed, so a question about last week
    does not read last year."""
    from platform_assets.lake.history import parallel_map

    start = _parse_time(since) if since is not None else None
    days = [name for name in storage.list_names(AUDIT_ROOT) if name.startswith("date=")]
    if start is not None:
        days = [d for d in days if d[len("date=") :] >= f"{start:%Y-%m-%d}"]
    paths = [f.path for day in days for f in storage.list_files(f"{AUDIT_ROOT}/{day}", recursive=False)]
    paths = [p for p in paths if p.endswith(".json")]
    records = []
    for body in parallel_map(storage.read_bytes, paths, workers=_READ_WORKERS):
        data = json.loads(body)
        records.append(AuditRecord(**data))
    selected = [
        r
        for r in records
        if (asset is None or r.asset == asset)
        and (action is None or r.action == action)
        and (start is None or _parse_time(r.at) >= start)
    ]
    return sorted(selected, key=lambda r: (r.at, r.id))
