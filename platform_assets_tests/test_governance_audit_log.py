"""The audit log: one immutable record per publish, rollback, catalog read and gc deletion."""

from __future__ import annotations

import io
import tomllib
from importlib import resources

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from platform_assets import cli
from platform_assets.catalog import Catalog
from platform_assets.governance import audit_log
from platform_assets.governance.s3 import bucket_location
from platform_assets.lake import history, layout
from platform_assets.maintenance import gc
from platform_assets.maintenance.retention import RetentionPolicy
from platform_assets_tests.conftest import Lake

ASSET = ("serving", "scores")
DAY = "2013-01-01"


def _no_grace_policy() -> RetentionPolicy:
    config = tomllib.loads(
        resources.files("platform_assets.maintenance").joinpath("retention.toml").read_text()
    )
    config["grace"] = {"in_flight_hours": 0, "interrupted_hours": 0}
    return RetentionPolicy.from_mapping(config)


def test_one_record_per_action(lake: Lake, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PLATFORM_USER", "ada")
    monkeypatch.setenv(audit_log.IDENTITY_VARIABLE, "role/serving-writer")
    store = lake.versions
    v1 = store.write_table(ASSET, DAY, pa.table({"x": [1, 2]}), run_id="one")["version"]
    v2 = store.write_table(ASSET, DAY, pa.table({"x": [3, 4]}), run_id="two")["version"]
    for version in (v1, v2):
        history.record_audit(
            store, ASSET, DAY, version, passed=True
        )  # rollback goes only to audited versions
    store.publish(ASSET, DAY, v1, actor="run:one")
    store.publish(ASSET, DAY, v2, actor="run:two")
    history.rollback(store, ASSET, DAY, reason="bad scores")
    assert Catalog(lake.storage).load("serving/scores")["x"].tolist() == [1, 2]
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": [0]}), buffer)
    crashed = f"{layout.partition_path(ASSET, DAY)}/v=20000101T000000000000Z-killed"
    lake.storage.write_bytes(f"{crashed}/part-00000.parquet", buffer.getvalue())
    assert [c.path for c in gc.collect(lake.storage, _no_grace_policy(), apply=True).deleted] == [crashed]

    records = audit_log.read_records(lake.storage)
    assert [(r.action, r.outcome, r.versions) for r in records] == [
        ("publish", "ok", [v1]),
        ("publish", "ok", [v2]),
        ("rollback", "ok", [v1]),
        ("catalog_read", "ok", [v1]),
        ("gc_delete", "ok", ["20000101T000000000000Z-killed"]),
    ]
    assert all(r.asset == "serving/scores" and r.partitions == [DAY] for r in records)
    assert all(r.identity == "role/serving-writer" for r in records)
    assert [r.actor for r in records] == ["run:one", "run:two", "ada", "ada", "ada"]
    assert records[2].details == {"previous_version": v2, "reason": "bad scores"}
    assert [r.service for r in records][3:] == ["catalog", "gc"]
    assert records[4].details["path"] == crashed and records[4].details["bytes"] == len(buffer.getvalue())
    assert [r.at for r in records] == sorted(r.at for r in records)

    for name, value in lake.env().items():
        monkeypatch.setenv(name, value)
    assert cli.main(["audit-log", "--asset", "serving/scores", "--action", "rollback"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "rollback" in line and v1 in line and "by ada as role/serving-writer" in line
    assert cli.main(["audit-log", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""
    assert len(audit_log.read_records(lake.storage, asset="serving/other")) == 0


def test_records_are_create_only(lake: Lake) -> None:
    record = audit_log.append(
        lake.storage, audit_log.ACTION_PUBLISH, asset=ASSET, partitions=[DAY], versions=["v"]
    )
    (path,) = [f.path for f in lake.storage.list_files(audit_log.AUDIT_ROOT)]
    assert path.startswith(f"{audit_log.AUDIT_ROOT}/date=") and path.endswith(f"-{record.id}.json")
    original = lake.storage.read_bytes(path)
    if lake.endpoint_url is None:
        with pytest.raises(audit_log.AuditLogError, match="never replaced"):
            audit_log._create(lake.storage, path, b"{}")
    else:  # the bucket itself refuses to replace a record
        client = boto3.client("s3", endpoint_url=lake.endpoint_url, region_name="us-east-1")
        location = bucket_location(lake.storage)
        with pytest.raises(ClientError, match="PreconditionFailed"):
            client.put_object(Bucket=location.bucket, Key=location.key(path), Body=b"{}", IfNoneMatch="*")
    assert lake.storage.read_bytes(path) == original
