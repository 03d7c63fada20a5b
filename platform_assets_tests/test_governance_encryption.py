"""Encryption enforced outside dev: the start-up refusals, on a real S3 endpoint (moto's server).

That every object kind carries the lake's SSE-KMS key is shown on the IAM-enforcing
server in test_governance_iam.py, where a whole day goes through the graph."""

from __future__ import annotations

import dataclasses

import boto3
import pytest

from platform_assets import cli
from platform_assets.governance.encryption import EncryptionError, check_endpoint
from platform_assets.governance.guard import open_lake
from platform_assets.settings import Settings
from platform_assets_tests.conftest import make_bucket

pytestmark = pytest.mark.s3

SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def _staging(monkeypatch: pytest.MonkeyPatch, endpoint: str, bucket: str) -> None:
    monkeypatch.setenv("PLATFORM_ENV", "staging")
    monkeypatch.setenv("PLATFORM_LAKE_URL", f"s3://{bucket}/platform")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)


def test_staging_refuses_a_bucket_without_default_encryption(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = make_bucket(s3_endpoint)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.delete_bucket_encryption(Bucket=bucket)
    _staging(monkeypatch, s3_endpoint, bucket)

    assert cli.main(["land", "--start", "2013-01-01", "--quiet"]) == 2
    message = capsys.readouterr().err
    assert f"bucket {bucket!r} has no default server-side encryption" in message
    assert "PLATFORM_ENV=staging requires encryption at rest" in message
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0  # refused before any write

    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=SSE_S3)
    storage = open_lake(Settings.from_env())
    storage.write_bytes("landing/flights/2013-01-01.csv", b"a,b\n1,2\n")
    head = s3.head_object(Bucket=bucket, Key="platform/landing/flights/2013-01-01.csv")
    assert head["ServerSideEncryption"] == "AES256"


def test_plain_http_is_refused_outside_dev_except_on_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hosts = ("127.0.0.1", "localhost", "::1")
    check_endpoint("http://minio.internal:9000", "dev", hosts)
    check_endpoint("https://s3.eu-west-1.amazonaws.com", "prod", hosts)
    check_endpoint("http://127.0.0.1:9000", "prod", hosts)
    with pytest.raises(EncryptionError, match="encrypted in transit"):
        check_endpoint("http://minio.internal:9000", "staging", hosts)

    monkeypatch.setenv("PLATFORM_ENV", "prod")
    monkeypatch.setenv("PLATFORM_LAKE_URL", "s3://lake-prod/platform")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.internal:9000")
    assert cli.main(["status"]) == 2  # refused before any request leaves the machine
    assert "refuses the S3 endpoint 'http://minio.internal:9000'" in capsys.readouterr().err


def test_encryption_cannot_be_switched_off_or_faked(s3_endpoint: str, tmp_path, monkeypatch) -> None:
    bucket = make_bucket(s3_endpoint)
    _staging(monkeypatch, s3_endpoint, bucket)
    staging = Settings.from_env()
    with pytest.raises(EncryptionError, match="must keep require_encryption = true"):
        open_lake(dataclasses.replace(staging, require_encryption=False))
    monkeypatch.delenv("PLATFORM_ENV")
    local = dataclasses.replace(Settings.from_env(), lake_url=str(tmp_path), require_encryption=True)
    with pytest.raises(EncryptionError, match="local folder, which cannot guarantee"):
        open_lake(local)
