"""Opening a lake: the one place the start-up checks run.

Outside dev (wherever governance.toml's `require_encryption` is true) a lake is
refused before the first write when its bucket has no default server-side
encryption; anywhere, when its bucket lies outside a region some domain allows.
Every S3 PUT of an encrypted lake then asks for SSE itself. (Plain-http endpoints
are refused outside dev by `Settings`.)"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlparse

from platform_assets.governance import encryption, identity, regions
from platform_assets.governance.config import GovernanceSettings
from platform_assets.lake.access import access_denied, is_access_denied
from platform_assets.lake.storage import LakeStorage
from platform_assets.settings import Settings

# The identity a lake is opened as when nothing says otherwise (sensors, tests, scripts).
AMBIENT_IDENTITY = None


def open_lake(settings: Settings, as_identity: str | None = AMBIENT_IDENTITY) -> LakeStorage:
    """Storage for `settings`' lake acting as `as_identity`, checked once per process."""
    governance = GovernanceSettings.load(settings.env)
    return _open(settings, as_identity, governance)


@lru_cache(maxsize=32)
def _open(settings: Settings, as_identity: str | None, governance: GovernanceSettings) -> LakeStorage:
    s3_identity = identity.resolve(as_identity, governance.identity_profile)
    storage = LakeStorage.from_url(
        settings.lake_url,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        retries=settings.storage_retries,
        ca_bundle=settings.s3_ca_bundle,
        identity=s3_identity,
    )
    if storage.is_local:
        if governance.require_encryption:
            raise encryption.EncryptionError(
                f"require_encryption is set but {settings.lake_url} is a local folder, which cannot "
                "guarantee server-side encryption; use an s3:// lake"
            )
        return storage
    bucket = urlparse(storage.url).netloc
    client = storage.s3_client()

    def check() -> None:
        regions.check_bucket_region(client, bucket)
        if governance.require_encryption:
            encryption.check_bucket_encryption(client, bucket, settings.env, governance.kms_key_id)

    try:
        # Retried like every other lake call: a throttled or reset request at start is transient.
        storage.retrying("open", "", lambda: _as_os_error(check))
    except Exception as error:
        if is_access_denied(error):
            raise access_denied(error, s3_identity, "stat", f"s3://{bucket}") from None
        raise
    if governance.require_encryption:
        storage.sse = encryption.put_args(governance.kms_key_id)
    return storage


def _as_os_error(call: Callable[[], None]) -> None:
    """Run `call`, turning boto3's transport and throttling failures into the OSError the
    storage's retry loop recognises as transient; every other answer passes through."""
    from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

    try:
        call()
    except (ConnectionClosedError, EndpointConnectionError) as error:
        raise ConnectionError(str(error)) from error
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status == 429 or status >= 500:
            raise OSError(f"HTTP response code: {status}: {error}") from error
        raise
