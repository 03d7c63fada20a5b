"""The lake's identity record, `<root>/_lake.json`: which environment a lake belongs to.

Written once, with a create-only write (S3 `If-None-Match: *`, an exclusive create
on a local disk), so two processes racing to initialise a lake cannot both win and
nothing ever rewrites it. Every platform process compares its own `PLATFORM_ENV`
with the record before its first write: a prod process pointed at a staging bucket
(or the other way round) stops with a message naming both, having written nothing."""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from platform_assets.settings import Settings

IDENTITY_FILE = "_lake.json"
FORMAT = 1

_verified: set[tuple[str, str]] = set()
_lock = threading.Lock()


class LakeIdentityError(RuntimeError):
    """The lake does not belong to this process's environment, or has no identity yet."""


class LakeAlreadyInitialised(LakeIdentityError):
    """`init-lake` on a lake that already has its record (the record is never rewritten)."""


@dataclass(frozen=True)
class LakeIdentity:
    environment: str
    region: str
    created_at: str
    created_by: str
    lake_url: str

    def to_json(self) -> bytes:
        body = {"format": FORMAT, **self.__dict__}
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> LakeIdentity:
        try:
            body = json.loads(data)
            return cls(**{name: str(body[name]) for name in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError) as error:
            raise LakeIdentityError(f"{where} is not a readable lake identity record: {error}") from None


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return os.environ.get("PLATFORM_ACTOR") or f"{user}@{socket.gethostname()}"


def _s3(settings: Settings) -> tuple[Any, str, str]:
    import boto3

    parsed = urlparse(settings.lake_url)
    prefix = parsed.path.strip("/")
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        verify=settings.s3_ca_bundle or None,
    )
    return client, parsed.netloc, f"{prefix}/{IDENTITY_FILE}" if prefix else IDENTITY_FILE


def _local(settings: Settings) -> Path:
    parsed = urlparse(settings.lake_url)
    root = parsed.path if parsed.scheme == "file" else settings.lake_url
    return Path(root).expanduser().resolve() / IDENTITY_FILE


def identity_url(settings: Settings) -> str:
    return f"{settings.lake_url.rstrip('/')}/{IDENTITY_FILE}"


def read_identity(settings: Settings) -> LakeIdentity | None:
    """The lake's record, or None when it has none (a whole-object read)."""
    where = identity_url(settings)
    if not settings.lake_url.startswith("s3://"):
        path = _local(settings)
        return LakeIdentity.from_json(path.read_bytes(), where) if path.is_file() else None
    client, bucket, key = _s3(settings)
    try:
        answer = client.get_object(Bucket=bucket, Key=key)
    except client.exceptions.NoSuchKey:
        return None
    except client.exceptions.NoSuchBucket:
        raise LakeIdentityError(f"the lake's bucket does not exist: {settings.lake_url}") from None
    return LakeIdentity.from_json(answer["Body"].read(), where)


def init_lake(settings: Settings) -> LakeIdentity:
    """Write the record for `settings.env`; refuse if the lake has one already.

    The write itself is the check (create-only), so it holds under a race."""
    record = LakeIdentity(
        environment=settings.env,
        region=settings.s3_region,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        created_by=_actor(),
        lake_url=settings.lake_url,
    )
    where = identity_url(settings)
    if not settings.lake_url.startswith("s3://"):
        path = _local(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise LakeAlreadyInitialised(
                f"{where} exists already; a lake's identity is never rewritten"
            ) from None
        with os.fdopen(fd, "wb") as out:
            out.write(record.to_json())
            out.flush()
            os.fsync(out.fileno())
        return record
    from botocore.exceptions import ClientError

    client, bucket, key = _s3(settings)
    try:
        client.put_object(Bucket=bucket, Key=key, Body=record.to_json(), IfNoneMatch="*")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise LakeAlreadyInitialised(
                f"{where} exists already; a lake's identity is never rewritten"
            ) from None
        if code == "NoSuchBucket":
            raise LakeIdentityError(f"the lake's bucket does not exist: {settings.lake_url}") from None
        raise
    return record


def ensure_lake_identity(settings: Settings) -> None:
    """Refuse to go on unless the lake's record names this process's environment.

    Called before a process's first lake access; checked once per process and lake.
    A lake without a record is given one when the environment allows it (dev, by
    `init_lake_on_first_use` in platform.toml); otherwise it is refused."""
    key = (settings.lake_url, settings.env)
    if key in _verified:
        return
    with _lock:
        if key in _verified:
            return
        found = read_identity(settings)
        if found is None:
            if not settings.init_lake_on_first_use:
                raise LakeIdentityError(
                    f"{settings.lake_url} has no identity record ({IDENTITY_FILE}); a "
                    f"PLATFORM_ENV={settings.env} process does not create one on first use: "
                    f"run `PLATFORM_ENV={settings.env} platform init-lake` once, deliberately"
                )
            try:
                found = init_lake(settings)
            except LakeAlreadyInitialised:
                found = read_identity(settings)  # another process won the race: check theirs
            assert found is not None
        if found.environment != settings.env:
            raise LakeIdentityError(
                f"refusing to use {settings.lake_url}: the lake belongs to "
                f"environment {found.environment!r} (created {found.created_at} by {found.created_by}) "
                f"but this process runs with PLATFORM_ENV={settings.env}"
            )
        _verified.add(key)
