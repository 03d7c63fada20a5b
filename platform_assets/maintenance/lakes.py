"""Which lake belongs to which environment, for commands that act on two lakes at once.

`platform promote` and `platform canary` name lakes by environment (`--from staging`)
or by URL. The lake's own identity record (`<root>/_lake.json`, written once when the
lake is created) is the authority: a URL that points at the wrong environment's
bucket is refused here, before anything is read or written."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from platform_assets.lake.storage import LakeStorage
from platform_assets.settings import Settings

IDENTITY_FILE = "_lake.json"
URL_VARIABLE = "PLATFORM_LAKE_URL_{env}"
ENDPOINT_VARIABLE = "PLATFORM_S3_ENDPOINT_URL_{env}"


class LakeIdentityError(ValueError):
    """A lake that is not the environment it was named as, or a promotion going backwards."""


@dataclass(frozen=True)
class NamedLake:
    """A lake and the environment it claims (from its identity record) and was named as."""

    storage: LakeStorage
    named_env: str | None
    recorded_env: str | None

    @property
    def env(self) -> str | None:
        return self.recorded_env or self.named_env

    def describe(self) -> str:
        return f"{self.env or 'unnamed'} lake {self.storage.url}"


def recorded_environment(storage: LakeStorage) -> str | None:
    """The environment in the lake's identity record; None for lakes created before it existed."""
    try:
        record = json.loads(storage.read_bytes(IDENTITY_FILE))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as error:
        raise LakeIdentityError(f"{storage.uri(IDENTITY_FILE)} is not JSON: {error}") from None
    env = record.get("environment", record.get("env")) if isinstance(record, dict) else None
    if not isinstance(env, str) or not env:
        raise LakeIdentityError(f"{storage.uri(IDENTITY_FILE)} names no environment")
    return env.strip().lower()


def open_lake(env: str | None, url: str | None, environ: Mapping[str, str] | None = None) -> NamedLake:
    """The lake `--from/--to ENV` or `--from-url/--to-url URL` names, checked against its identity.

    A URL comes from the flag, else from PLATFORM_LAKE_URL_<ENV>; the S3 endpoint from
    PLATFORM_S3_ENDPOINT_URL_<ENV>, else AWS_ENDPOINT_URL (both lakes usually share one)."""
    environ = os.environ if environ is None else environ
    env = env.strip().lower() if env else None
    suffix = (env or "").upper()
    if url is None:
        if env is None:
            raise LakeIdentityError("name a lake by environment (--from/--to) or URL (--from-url/--to-url)")
        url = environ.get(URL_VARIABLE.format(env=suffix), "").strip()
        if not url:
            raise LakeIdentityError(
                f"no URL for the {env} lake: set {URL_VARIABLE.format(env=suffix)} or pass its URL"
            )
    endpoint = (environ.get(ENDPOINT_VARIABLE.format(env=suffix)) if env else None) or environ.get(
        "AWS_ENDPOINT_URL"
    )
    defaults = Settings.from_env({"PLATFORM_ENV": "dev"})
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or defaults.s3_region
    storage = LakeStorage.from_url(url, endpoint_url=endpoint or None, region=region)
    recorded = recorded_environment(storage)
    if env is not None and recorded is not None and recorded != env:
        raise LakeIdentityError(
            f"{storage.url} is the {recorded} lake ({storage.uri(IDENTITY_FILE)}), not {env}; "
            "check the URL or the environment name"
        )
    return NamedLake(storage, env, recorded)


def check_direction(source: NamedLake, target: NamedLake, order: Sequence[str]) -> None:
    """Refuse promotions into the same lake, backwards (prod -> staging) or between unknown envs."""
    if source.storage.url == target.storage.url:
        raise LakeIdentityError(f"source and target are the same lake: {source.storage.url}")
    if source.env is None or target.env is None:
        return  # unidentified lakes (tests, ad-hoc copies): the URLs are the only claim
    for lake in (source, target):
        if lake.env not in order:
            raise LakeIdentityError(f"{lake.describe()}: {lake.env!r} is not one of {list(order)}")
    if order.index(target.env) <= order.index(source.env):
        raise LakeIdentityError(
            f"promotion goes {' -> '.join(order)}; {source.env} -> {target.env} goes the wrong way"
        )


def check_target_region(target: NamedLake) -> None:
    """Refuse to promote into a bucket outside the regions the domains allow (RegionError)."""
    from platform_assets.governance.regions import check_bucket_region

    if not target.storage.is_local:
        bucket = target.storage.root.split("/", 1)[0]
        check_bucket_region(target.storage._s3_client(), bucket, purpose="promote into")  # noqa: SLF001
