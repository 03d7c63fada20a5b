"""Encryption at rest and in transit, enforced where `require_encryption` says so.

At rest: a lake whose bucket has no default server-side encryption is refused at
start, and every PUT the platform makes asks for SSE itself (SSE-KMS with the key in
PLATFORM_KMS_KEY_ID, else SSE-S3), so an object is encrypted even if someone later
removes the bucket default. pyarrow 26's S3 filesystem has no per-request SSE option
(it ignores `x-amz-server-side-encryption` in write metadata), so encrypted lakes
write through boto3 (`LakeStorage._put`). In transit: `Settings` refuses plain-http
endpoints outside dev."""

from __future__ import annotations

from typing import Any

from platform_assets.settings import SettingsError

SSE_S3 = "AES256"
SSE_KMS = "aws:kms"


class EncryptionError(SettingsError):
    """The lake cannot guarantee encryption where the environment requires it."""


def put_args(kms_key_id: str | None) -> dict[str, str]:
    """The SSE arguments of every boto3 `put_object` in an encrypted lake."""
    if kms_key_id:
        return {"ServerSideEncryption": SSE_KMS, "SSEKMSKeyId": kms_key_id}
    return {"ServerSideEncryption": SSE_S3}


def bucket_default_encryption(client: Any, bucket: str) -> dict[str, str] | None:
    """The bucket's default SSE rule (`SSEAlgorithm`, maybe `KMSMasterKeyID`), None when it has none."""
    import botocore.exceptions

    try:
        response = client.get_bucket_encryption(Bucket=bucket)
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise
    for rule in response.get("ServerSideEncryptionConfiguration", {}).get("Rules", []):
        default = rule.get("ApplyServerSideEncryptionByDefault")
        if default and default.get("SSEAlgorithm") in (SSE_S3, SSE_KMS, "aws:kms:dsse"):
            return default
    return None


def check_bucket_encryption(client: Any, bucket: str, env: str, kms_key_id: str | None) -> dict[str, str]:
    """Refuse a bucket without default SSE; return its rule."""
    default = bucket_default_encryption(client, bucket)
    if default is None:
        raise EncryptionError(
            f"PLATFORM_ENV={env} requires encryption at rest, but bucket {bucket!r} has no default "
            "server-side encryption; enable SSE-S3 or SSE-KMS on it (e.g. `aws s3api put-bucket-encryption`) "
            "before the platform writes there"
        )
    return default
