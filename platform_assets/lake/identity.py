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

from platform_assets.lake.storage import LakeStorage, PreconditionFailed
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


def _storage(settings: Settings) -> LakeStorage:
    """The lake's own storage, so the record is written and read like every small object:
    a create-only conditional write and a whole-object read (see `LakeStorage`)."""
    return LakeStorage.from_url(
        settings.lake_url,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        retries=settings.storage_retries,
        ca_bundle=settings.s3_ca_bundle,
    )


def identity_url(settings: Settings) -> str:
    return f"{settings.lake_url.rstrip('/')}/{IDENTITY_FILE}"


def read_identity(settings: Settings, storage: LakeStorage | None = None) -> LakeIdentity | None:
    """The lake's record, or None when it has none (a whole-object read).

    `storage` is the caller's own (acting as the run's identity); by default the
    ambient credentials."""
    try:
        found = (storage or _storage(settings)).read_object(IDENTITY_FILE)
    except FileNotFoundError:
        raise LakeIdentityError(f"the lake's bucket does not exist: {settings.lake_url}") from None
    return None if found is None else LakeIdentity.from_json(found[0], identity_url(settings))


def init_lake(settings: Settings, storage: LakeStorage | None = None) -> LakeIdentity:
    """Write the record for `settings.env`; refuse if the lake has one already.

    The write itself is the check (create-only), so it holds under a race."""
    record = LakeIdentity(
        environment=settings.env,
        region=settings.s3_region,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        created_by=_actor(),
        lake_url=settings.lake_url,
    )
    try:
        (storage or _storage(settings)).write_object_if(IDENTITY_FILE, record.to_json(), expected=None)
    except PreconditionFailed:
        raise LakeAlreadyInitialised(
            f"{identity_url(settings)} exists already; a lake's identity is never rewritten"
        ) from None
    except FileNotFoundError:
        raise LakeIdentityError(f"the lake's bucket does not exist: {settings.lake_url}") from None
    return record


def ensure_lake_identity(settings: Settings, storage: LakeStorage | None = None) -> None:
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
        found = read_identity(settings, storage)
        if found is None:
            if not settings.init_lake_on_first_use:
                raise LakeIdentityError(
                    f"{settings.lake_url} has no identity record ({IDENTITY_FILE}); a "
                    f"PLATFORM_ENV={settings.env} process does not create one on first use: "
                    f"run `PLATFORM_ENV={settings.env} platform init-lake` once, deliberately"
                )
            try:
                found = init_lake(settings, storage)
            except LakeAlreadyInitialised:
                found = read_identity(settings, storage)  # another process won the race: check theirs
            assert found is not None
        if found.environment != settings.env:
            raise LakeIdentityError(
                f"refusing to use {settings.lake_url}: the lake belongs to "
                f"environment {found.environment!r} (created {found.created_at} by {found.created_by}) "
                f"but this process runs with PLATFORM_ENV={settings.env}"
            )
        _verified.add(key)
