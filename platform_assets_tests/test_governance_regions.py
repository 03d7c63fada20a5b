"""Regional boundaries: a bucket outside every domain's declared regions is refused."""

from __future__ import annotations

import uuid

import boto3
import pytest

from platform_assets import cli
from platform_assets.governance.guard import open_lake
from platform_assets.governance.regions import RegionError, check_bucket_region, domain_regions
from platform_assets.settings import Settings

pytestmark = pytest.mark.s3


def _bucket_in(endpoint: str, region: str) -> tuple[str, object]:
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    return bucket, s3


def test_each_domain_declares_its_regions() -> None:
    assert domain_regions() == {
        "flights": ("us-east-1", "us-east-2"),
        "seattle_weather": ("us-east-1", "us-east-2", "us-west-2"),
    }


def test_lake_in_a_region_no_domain_allows_is_refused_at_start(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket, s3 = _bucket_in(s3_endpoint, "eu-west-1")
    monkeypatch.setenv("PLATFORM_LAKE_URL", f"s3://{bucket}/platform")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    with pytest.raises(RegionError) as refused:
        open_lake(Settings.from_env())
    assert str(refused.value) == (
        f"refusing to write to bucket {bucket!r} in region eu-west-1: "
        "domain flights allows only us-east-1, us-east-2; "
        "domain seattle_weather allows only us-east-1, us-east-2, us-west-2"
    )
    assert cli.main(["land", "--start", "2013-01-01", "--quiet"]) == 2
    assert "region eu-west-1" in capsys.readouterr().err
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_promotion_checks_its_target_bucket(s3_endpoint: str) -> None:
    east2, s3 = _bucket_in(s3_endpoint, "us-east-2")
    assert check_bucket_region(s3, east2, purpose="promote into") == "us-east-2"
    west, s3_west = _bucket_in(s3_endpoint, "us-west-2")
    with pytest.raises(RegionError, match=r"refusing to promote into bucket .* in region us-west-2"):
        check_bucket_region(s3_west, west, purpose="promote into")
    narrow = {"flights": ("us-east-2",), "billing": ("us-east-1",)}
    with pytest.raises(RegionError, match="domain billing allows only us-east-1"):
        check_bucket_region(s3, east2, allowed=narrow, purpose="promote into")


def test_platform_promote_refuses_a_target_bucket_outside_the_regions(
    s3_endpoint: str, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    west, _ = _bucket_in(s3_endpoint, "us-west-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    code = cli.main(
        [
            "promote", "--from-url", str(tmp_path / "lake"), "--to-url", f"s3://{west}/platform",
            "--select", "serving", "--partitions", "2013-01-02",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert f"refusing to promote into bucket '{west}' in region us-west-2" in err
    assert "Contents" not in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=west)
