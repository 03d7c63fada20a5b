"""A boto3 client for the bucket a lake lives in, for the few calls pyarrow does not expose.

pyarrow's S3 filesystem has no conditional writes and no bucket configuration, so
the audit log (create-only PUTs) and the lifecycle rules speak to S3 through boto3.
The client is built from the same settings the filesystem was (endpoint, scheme,
region) and the standard credential chain, so both reach the same bucket as the
same identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platform_assets.lake.storage import LakeStorage


@dataclass(frozen=True)
class BucketLocation:
    """Where a lake's objects live: bucket, and the key prefix of the lake root ('' at the top)."""

    bucket: str
    prefix: str

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel


def is_local(storage: LakeStorage) -> bool:
    return storage.is_local


def bucket_location(storage: LakeStorage) -> BucketLocation:
    if is_local(storage):
        raise ValueError(f"{storage.url} is a local folder, not an S3 bucket")
    bucket, _, prefix = storage.root.partition("/")
    return BucketLocation(bucket, prefix.strip("/"))


def s3_client(storage: LakeStorage) -> Any:
    """A boto3 S3 client for the endpoint and region `storage` uses, as the same identity.

    The storage's own client carries the run's identity credentials and CA bundle."""
    return storage.s3_client()
