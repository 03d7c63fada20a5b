"""Encryption at rest enforced outside dev: the start-up refusal, on a real S3 endpoint (moto's server).

That every object kind carries the lake's SSE-KMS key is shown on the TLS, IAM-enforcing
server in test_governance_iam.py, where a whole staging day goes through the graph.
Plain-http endpoints outside dev are refused by `Settings` (test_environments.py)."""

from __future__ import annotations

import dataclasses

import boto3
import pytest

from platform_assets.governance.config import GovernanceSettings
from platform_assets.governance.encryption import EncryptionError
from platform_assets.governance.guard import open_lake
from platform_assets.settings import Settings, SettingsError
from platform_assets_tests.conftest import make_bucket

pytestmark = pytest.mark.s3

SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def _staging(endpoint: str, bucket: str) -> Settings:
    """A staging lake on the shared plain-http moto server (Settings itself would want https)."""
    dev = Settings.from_env({"PLATFORM_LAKE_URL": f"s3://{bucket}/platform", "AWS_ENDPOINT_URL": endpoint})
    return dataclasses.replace(dev, env="staging")


def test_staging_refuses_a_bucket_without_default_encryption(s3_endpoint: str) -> None:
    bucket = make_bucket(s3_endpoint)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.delete_bucket_encryption(Bucket=bucket)
    staging = _staging(s3_endpoint, bucket)

    with pytest.raises(EncryptionError) as refused:
        open_lake(staging)
    assert f"bucket {bucket!r} has no default server-side encryption" in str(refused.value)
    assert "PLATFORM_ENV=staging requires encryption at rest" in str(refused.value)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # refused before any write

    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=SSE_S3)
    storage = open_lake(staging)
    assert storage.sse == {"ServerSideEncryption": "AES256"}
    storage.write_bytes("landing/flights/2013-01-01.csv", b"a,b\n1,2\n")
    head = s3.head_object(Bucket=bucket, Key="platform/landing/flights/2013-01-01.csv")
    assert head["ServerSideEncryption"] == "AES256"


def test_dev_writes_without_asking_and_staging_cannot_turn_encryption_off(s3_endpoint: str) -> None:
    bucket = make_bucket(s3_endpoint)
    dev = dataclasses.replace(_staging(s3_endpoint, bucket), env="dev")
    assert open_lake(dev).sse == {}
    assert GovernanceSettings.load("staging", {}).require_encryption
    assert GovernanceSettings.load("prod", {"PLATFORM_KMS_KEY_ID": "k1"}).kms_key_id == "k1"
    with pytest.raises(SettingsError, match="must contain"):
        GovernanceSettings.load("prod", {"PLATFORM_IDENTITY_PROFILE": "platform"})
