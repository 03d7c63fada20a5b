"""`platform lifecycle --apply` writes the bucket's lifecycle rules; read back from the endpoint."""

from __future__ import annotations

import boto3
import pytest

from platform_assets import cli
from platform_assets_tests.conftest import local_lake, s3_lake

FOREIGN = {
    "ID": "someone-else:logs",
    "Status": "Enabled",
    "Filter": {"Prefix": "logs/"},
    "Expiration": {"Days": 3},
}


@pytest.mark.s3
def test_lifecycle_rules_round_trip_and_keep_other_rules(s3_endpoint: str, monkeypatch, capsys) -> None:
    lake = s3_lake(s3_endpoint)
    for name, value in lake.env().items():
        monkeypatch.setenv(name, value)
    bucket = lake.url.split("/")[2]
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [FOREIGN]})

    assert cli.main(["lifecycle"]) == 0  # dry run: prints, writes nothing
    assert "platform:platform:tier-raw" in capsys.readouterr().out
    assert [r["ID"] for r in client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == [
        FOREIGN["ID"]
    ]

    for _ in range(2):  # applying again replaces our rules, never duplicates them
        assert cli.main(["lifecycle", "--apply"]) == 0
    rules = {r["ID"]: r for r in client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert sorted(rules) == sorted([
        FOREIGN["ID"], "platform:platform:tier-landing", "platform:platform:tier-raw",
        "platform:platform:expire-canary", "platform:platform:abort-incomplete-uploads",
    ])  # fmt: skip
    for zone in ("landing", "raw"):
        rule = rules[f"platform:platform:tier-{zone}"]
        assert rule["Status"] == "Enabled"
        assert rule["Filter"]["And"]["Prefix"] == f"platform/{zone}/"
        assert rule["Transitions"] == [
            {"Days": 30, "StorageClass": "STANDARD_IA"},
            {"Days": 180, "StorageClass": "GLACIER_IR"},
        ]
    assert rules["platform:platform:expire-canary"]["Filter"] == {"Prefix": "platform/canary/"}
    assert rules["platform:platform:expire-canary"]["Expiration"] == {"Days": 7}
    abort = rules["platform:platform:abort-incomplete-uploads"]
    assert abort["Filter"] == {"Prefix": "platform/"}
    assert abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert rules[FOREIGN["ID"]]["Expiration"] == {"Days": 3}


def test_lifecycle_on_a_local_lake_is_refused_by_name(tmp_path, monkeypatch, capsys) -> None:
    lake = local_lake(tmp_path)
    monkeypatch.setenv("PLATFORM_LAKE_URL", lake.url)
    assert cli.main(["lifecycle", "--apply"]) == 1
    assert "is a local folder: lifecycle rules need an S3 lake" in capsys.readouterr().err
