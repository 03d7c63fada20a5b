"""Environments that cannot be confused: settings refused outside dev, and the lake's identity.

A lake carries `_lake.json` naming its environment; each test below points a
process at the wrong lake (or at no environment, or at a plain-http endpoint) and
checks that it stops with a message naming the problem, having written nothing."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from platform_assets import cli
from platform_assets.lake import identity
from platform_assets.lake.resources import LakeResource
from platform_assets.settings import (
    REQUIRE_EXPLICIT_ENV,
    Settings,
    SettingsError,
    _config_file,
    validate_config,
)
from platform_assets_tests.conftest import make_bucket


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_container_that_forgets_platform_env_refuses_to_start() -> None:
    environ = {REQUIRE_EXPLICIT_ENV: "1", "PLATFORM_LAKE_URL": "s3://lake/platform"}
    with pytest.raises(SettingsError, match="PLATFORM_ENV is not set.*container"):
        Settings.from_env(environ)
    with pytest.raises(SettingsError, match="PLATFORM_ENV is not set"):
        Settings.from_env({"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    # Outside a container the default stays dev, with its local lake.
    assert Settings.from_env({}).env == "dev"
    assert Settings.from_env({REQUIRE_EXPLICIT_ENV: "1", "PLATFORM_ENV": "dev"}).env == "dev"


def test_http_endpoints_are_refused_outside_dev_only() -> None:
    staging = {"PLATFORM_ENV": "staging", "PLATFORM_LAKE_URL": "s3://lake/platform"}
    with pytest.raises(SettingsError, match=r"AWS_ENDPOINT_URL='http://minio:9000' is plain http.*staging"):
        Settings.from_env({**staging, "AWS_ENDPOINT_URL": "http://minio:9000"})
    with pytest.raises(SettingsError, match="prod"):
        Settings.from_env({**staging, "PLATFORM_ENV": "prod", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    secure = Settings.from_env({**staging, "AWS_ENDPOINT_URL": "https://minio:9000"})
    assert secure.s3_endpoint_url == "https://minio:9000"
    assert Settings.from_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}).env == "dev"
    with pytest.raises(SettingsError, match="AWS_CA_BUNDLE"):
        Settings.from_env({**staging, "AWS_CA_BUNDLE": "/nonexistent/ca.pem"})


def test_staging_and_prod_settings_differ_from_dev_where_they_should() -> None:
    dev = Settings.from_env({})
    staging = Settings.from_env({"PLATFORM_ENV": "staging", "PLATFORM_LAKE_URL": "s3://a/b"})
    prod = Settings.from_env({"PLATFORM_ENV": "prod", "PLATFORM_LAKE_URL": "s3://c/d"})
    assert (
        dev.init_lake_on_first_use and not staging.init_lake_on_first_use and not prod.init_lake_on_first_use
    )
    with pytest.raises(SettingsError, match="needs an s3:// lake"):
        Settings.from_env({"PLATFORM_ENV": "prod", "PLATFORM_LAKE_URL": "/tmp/lake"})


def test_every_platform_toml_key_is_one_the_code_reads() -> None:
    config = _config_file()
    validate_config(config)  # the shipped file
    with pytest.raises(SettingsError, match=r"\[prod\] require_encryption is not a setting"):
        validate_config({**config, "prod": {"require_encryption": True}})
    with pytest.raises(SettingsError, match=r"\[staging\] storage_retries has the wrong type"):
        validate_config({**config, "staging": {"storage_retries": "five"}})
    with pytest.raises(SettingsError, match=r"unknown section \[qa\]"):
        validate_config({**config, "qa": {}})


def test_dev_gives_a_new_lake_its_identity_on_first_use(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    LakeResource(lake_url=str(lake)).storage()
    record = json.loads((lake / "_lake.json").read_text())
    assert record["environment"] == "dev" and record["region"] == "us-east-1"
    assert record["created_at"] and record["created_by"]


def test_prod_and_dev_processes_refuse_a_staging_bucket_before_any_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = make_bucket(s3_endpoint)
    url = f"s3://{bucket}/platform"
    # Staging would need https; the record is written by the create-only call directly.
    staging = Settings(
        env="staging", lake_url=url, s3_endpoint_url=s3_endpoint, s3_region="us-east-1",
        target_file_bytes=1 << 20, storage_retries=1, init_lake_on_first_use=False,
    )  # fmt: skip
    identity.init_lake(staging)
    with pytest.raises(identity.LakeAlreadyInitialised):  # If-None-Match: moto refuses a rewrite
        identity.init_lake(staging)
    before = _keys(s3_endpoint, bucket)

    prod = Settings(**{**staging.__dict__, "env": "prod"})
    with pytest.raises(identity.LakeIdentityError, match="environment 'staging'.*PLATFORM_ENV=prod"):
        identity.ensure_lake_identity(prod)

    # A dev process (http allowed) pointed at the staging bucket: refused, names both.
    monkeypatch.setenv("PLATFORM_LAKE_URL", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    code = cli.main(["land", "--start", "2013-01-01", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "belongs to environment 'staging'" in err and "PLATFORM_ENV=dev" in err
    assert _keys(s3_endpoint, bucket) == before == ["platform/_lake.json"]


def test_cli_refuses_mismatch_and_missing_record_on_a_local_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    monkeypatch.setenv("PLATFORM_LAKE_URL", str(lake))
    assert cli.main(["init-lake"]) == 0
    assert json.loads((lake / "_lake.json").read_text())["environment"] == "dev"
    assert cli.main(["init-lake"]) == 0  # already this environment's: says so, changes nothing
    before = (lake / "_lake.json").read_bytes()

    # Outside dev a lake is never initialised implicitly.
    settings = Settings.from_env({"PLATFORM_LAKE_URL": str(tmp_path / "other")})
    settings = Settings(**{**settings.__dict__, "env": "prod", "init_lake_on_first_use": False})
    with pytest.raises(identity.LakeIdentityError, match="no identity record.*platform init-lake"):
        identity.ensure_lake_identity(settings)
    assert not (tmp_path / "other").exists()

    # A prod process against the dev lake: refused before the landing write.
    prod = Settings(**{**settings.__dict__, "lake_url": str(lake)})
    with pytest.raises(identity.LakeIdentityError, match="belongs to environment 'dev'.*PLATFORM_ENV=prod"):
        identity.ensure_lake_identity(prod)
    assert _files(lake) == ["_lake.json"] and (lake / "_lake.json").read_bytes() == before
    capsys.readouterr()


def _keys(endpoint: str, bucket: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_code_server_from_the_image_refuses_to_load_without_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_assets.definitions import build_definitions

    monkeypatch.setenv(REQUIRE_EXPLICIT_ENV, "1")
    with pytest.raises(SettingsError, match="PLATFORM_ENV is not set"):
        build_definitions()
    # Explicitly dev, on a lake another environment owns: refused at load, not at the first run.
    lake = tmp_path / "lake"
    staging = Settings.from_env({"PLATFORM_LAKE_URL": str(lake)})
    identity.init_lake(Settings(**{**staging.__dict__, "env": "staging"}))
    monkeypatch.setenv("PLATFORM_ENV", "dev")
    monkeypatch.setenv("PLATFORM_LAKE_URL", str(lake))
    with pytest.raises(identity.LakeIdentityError, match="belongs to environment 'staging'"):
        build_definitions()
