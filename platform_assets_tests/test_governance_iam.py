"""Least privilege and encryption for real: generated policies on a moto server that enforces IAM.

The lake is a staging lake (encryption required, SSE-KMS key from the environment).
Each platform identity becomes an IAM user holding exactly its generated policy;
its keys sit in an AWS credentials file as profile `platform-<identity>`, which is
how runs find them (the run's `zone` tag). One real day goes through the whole graph,
each zone in its own run as its own identity; then every identity tries every kind
of access and the observed matrix must equal the one the issue asks for, written
out by hand below (not derived from the generator). Finally every object the run
left in the bucket is asked, on the endpoint, how it is encrypted."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.catalog import Catalog
from platform_assets.definitions import build_definitions
from platform_assets.domains.flights.source import land
from platform_assets.governance import iam
from platform_assets.governance.guard import open_lake
from platform_assets.lake.access import LakeAccessDenied
from platform_assets.lake.identity import LakeIdentity
from platform_assets.lake.resources import LakeResource
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets.settings import Settings
from platform_assets_tests import expected
from platform_assets_tests.iam_server import IamServer, iam_enforcing_server, write_profiles

pytestmark = [pytest.mark.integration, pytest.mark.s3]

# The test's own eyes on the bucket once IAM is enforced (not a platform identity).
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
SSE_S3_DEFAULT = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}

# 2013-02-12: EWR reported a 1,048 mph wind, so curated/weather quarantines rows that day.
DAY = "2013-02-12"
KMS_KEY = "platform-test-key"
BUCKET = "lake-iam"
PREFIX = "platform"
PART = f"date={DAY}"

# (probe, action, lake-relative path)
PROBES = {
    "read landing": ("get", f"landing/flights/{DAY}.csv"),
    "write landing": ("put", "landing/flights/_probe.csv"),
    "read raw": ("get", f"raw/flights/{PART}/_published.json"),
    "write raw": ("put", f"raw/flights/{PART}/_probe"),
    "read curated": ("get", f"curated/flights/{PART}/_published.json"),
    "write curated": ("put", f"curated/flights/{PART}/_probe"),
    "read serving": ("get", f"serving/route_daily/{PART}/_published.json"),
    "move serving pointer": ("put", f"serving/route_daily/{PART}/_published.json"),
    "read quarantine": ("get", f"quarantine/flights/{PART}/_probe"),
    "write quarantine": ("put", f"quarantine/flights/{PART}/_probe"),
    "append audit log": ("put", f"_audit_log/{PART}/_probe.json"),
    "delete raw": ("delete", f"raw/flights/{PART}/_probe"),
}
ALL = set(PROBES)
# What the issue grants each identity, by hand.
ALLOWED = {
    "landing": {"read landing", "write landing"},
    "raw": {"read landing", "read raw", "write raw", "append audit log"},
    "curated": {
        "read raw",
        "read curated",
        "write curated",
        "read quarantine",
        "write quarantine",
        "append audit log",
    },
    "serving": {"read curated", "read serving", "move serving pointer", "append audit log"},
    "operator": ALL - {"write landing"},
    "analyst": {"read curated", "read serving", "append audit log"},  # records its own reads
}


@dataclasses.dataclass
class IamLake:
    server: IamServer
    settings: Settings
    resource: LakeResource
    admin_keys: tuple[str, str]

    def admin(self) -> Any:
        key_id, secret = self.admin_keys
        return self.server.client("s3", aws_access_key_id=key_id, aws_secret_access_key=secret)

    def storage(self, identity: str) -> LakeStorage:
        return open_lake(self.settings, identity)


@pytest.fixture(scope="module")
def iam_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamLake]:
    home = tmp_path_factory.mktemp("aws")
    with iam_enforcing_server(home) as server, pytest.MonkeyPatch.context() as env:
        admin = server.client("s3")
        admin.create_bucket(Bucket=BUCKET)
        admin.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration=SSE_S3_DEFAULT)
        record = LakeIdentity(
            "staging", "us-east-1", "2026-12-01T00:00:00+00:00", "test", f"s3://{BUCKET}/{PREFIX}"
        )
        admin.put_object(Bucket=BUCKET, Key=f"{PREFIX}/_lake.json", Body=record.to_json())  # as init-lake
        url = f"s3://{BUCKET}/{PREFIX}"
        resource = LakeResource(lake_url=url, endpoint_url=server.endpoint)
        documents = iam.policies(build_definitions(resource), BUCKET, PREFIX, KMS_KEY)
        keys = server.create_identities({**documents, "admin": ADMIN_POLICY})
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(write_profiles(home / "credentials", keys)))
        env.setenv("AWS_CONFIG_FILE", str(home / "config"))
        env.setenv("PLATFORM_IDENTITY_PROFILE", "platform-{identity}")
        env.setenv("PLATFORM_ENV", "staging")
        env.setenv("PLATFORM_KMS_KEY_ID", KMS_KEY)
        env.setenv("PLATFORM_LAKE_URL", url)
        env.setenv("AWS_ENDPOINT_URL", server.endpoint)
        env.setenv("AWS_CA_BUNDLE", server.ca_bundle)
        # Ambient keys (the lake-identity check reads _lake.json with them): the least privileged.
        env.setenv("AWS_ACCESS_KEY_ID", keys["analyst"][0])
        env.setenv("AWS_SECRET_ACCESS_KEY", keys["analyst"][1])
        server.enforce()
        yield IamLake(server, Settings.from_env(), resource, keys["admin"])


def _zone_runs(lake: IamLake, instance: dg.DagsterInstance, zone: str) -> list[dg.ExecuteInProcessResult]:
    """The zone's reference assets in one run and its daily assets in another, as the zone's identity."""
    defs = build_definitions(lake.resource)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    graph = defs.resolve_asset_graph()
    # Models (ml zone) need weeks of features: assets that read them are left out of one day.
    # The day is a flights day; other domains' assets have nothing landed for it.
    mine = [
        a
        for a in assets
        if all(k.path[0] == zone and all(p.path[0] != "ml" for p in graph.get(k).parent_keys) for k in a.keys)
        and all(a.tags_by_key[k].get("domain") == "flights" for k in a.keys)
    ]
    results = []
    for daily in (False, True):
        keys = [k for a in mine if (a.partitions_def is not None) == daily for k in a.keys]
        if not keys:
            continue
        results.append(
            dg.materialize(
                [*assets, *(defs.asset_checks or [])],
                selection=keys,
                resources=defs.resources,
                instance=instance,
                tags={"zone": zone},
                partition_key=DAY if daily else None,
                raise_on_error=False,
            )
        )
    return results


def _probe(storage: LakeStorage, action: str, rel: str, pointer_bytes: bytes) -> bool:
    """Whether S3 let the identity do it (a missing object still means it was allowed to look)."""
    try:
        if action == "get":
            storage.read_bytes(rel)
        elif action == "put":
            storage.write_bytes(rel, pointer_bytes if rel.endswith("_published.json") else b"probe")
        else:
            bucket, key = storage.full_path(rel).split("/", 1)
            storage.retrying("delete", rel, lambda: storage.s3_client().delete_object(Bucket=bucket, Key=key))
    except LakeAccessDenied:
        return False
    except FileNotFoundError:
        return True
    return True


@pytest.fixture(scope="module")
def built(iam_lake: IamLake) -> IamLake:
    """Land one day as the landing writer, then run raw, curated and serving as their own identities."""
    day = date.fromisoformat(DAY)
    land(iam_lake.storage("landing"), day, day)
    instance = dg.DagsterInstance.ephemeral()
    for zone in ("raw", "curated", "serving"):
        for result in _zone_runs(iam_lake, instance, zone):
            failures = [e.message for e in result.all_events if e.is_step_failure]
            assert result.success, f"{zone} run failed as its own identity: {failures}"
    return iam_lake


def test_every_zone_runs_as_its_own_identity_and_analysts_read_serving(built: IamLake) -> None:
    frame = Catalog.from_env().load("serving/carrier_daily_performance", [DAY])
    wanted = expected.carrier_daily_performance([DAY])
    assert sorted(frame["carrier"]) == sorted(wanted["carrier"])
    assert frame["flights"].sum() == wanted["flights"].sum() > 0


def test_observed_access_matrix_is_least_privilege(built: IamLake) -> None:
    pointer = built.storage("operator").read_bytes(PROBES["move serving pointer"][1])
    observed = {
        identity: {
            name
            for name, (action, rel) in PROBES.items()
            if _probe(built.storage(identity), action, rel, pointer)
        }
        for identity in ALLOWED
    }
    matrix = "\n".join(
        f"{identity:9} " + " ".join("Y" if p in observed[identity] else "." for p in PROBES)
        for identity in ALLOWED
    )
    print("\n" + " | ".join(PROBES) + "\n" + matrix)
    assert observed == ALLOWED
    assert built.storage("operator").read_bytes(PROBES["move serving pointer"][1]) == pointer


def test_denials_name_identity_action_and_path(built: IamLake) -> None:
    lake_uri = f"s3://{BUCKET}/{PREFIX}"
    serving, analyst, curated = (built.storage(i) for i in ("serving", "analyst", "curated"))

    with pytest.raises(LakeAccessDenied) as denied:
        serving.write_bytes(f"raw/flights/{PART}/part-00000.parquet", b"overwrite")
    assert "identity platform-serving" in str(denied.value)
    assert f"s3:PutObject on {lake_uri}/raw/flights/{PART}/part-00000.parquet" in str(denied.value)

    with pytest.raises(LakeAccessDenied) as denied:
        analyst.write_bytes(f"serving/route_daily/{PART}/_probe", b"x")
    assert "identity platform-analyst" in str(denied.value) and "s3:PutObject" in str(denied.value)
    with pytest.raises(LakeAccessDenied) as denied:
        analyst.read_bytes(f"landing/flights/{DAY}.csv")
    assert f"s3:GetObject on {lake_uri}/landing/flights/{DAY}.csv" in str(denied.value)

    key, operator = ["serving", "route_daily"], VersionStore(built.storage("operator"))
    before = operator.pointer(key, DAY)
    with pytest.raises(LakeAccessDenied) as denied:
        curated.write_bytes(f"serving/route_daily/{PART}/_published.json", b"{}")
    assert "identity platform-curated" in str(denied.value)
    assert f"s3:PutObject on {lake_uri}/serving/route_daily/{PART}/_published.json" in str(denied.value)
    with pytest.raises(LakeAccessDenied):
        VersionStore(curated).publish(key, DAY, before["version"], actor="curated-bug")
    assert operator.pointer(key, DAY) == before


def test_a_run_tagged_with_the_wrong_zone_fails_with_a_platform_error(built: IamLake) -> None:
    """A serving asset run as the curated identity cannot write serving: the step says why."""
    defs = build_definitions(built.resource)
    result = dg.materialize(
        [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)],
        selection=[dg.AssetKey(["serving", "route_daily"])],
        resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(),
        tags={"zone": "curated"},
        partition_key=DAY,
        raise_on_error=False,
    )
    assert not result.success
    errors = [e.event_specific_data.error.to_string() for e in result.all_events if e.is_step_failure]
    assert any(
        "access denied: identity platform-curated" in m and f"/serving/route_daily/{PART}" in m
        for m in errors
    ), errors


def test_every_object_written_is_encrypted_with_the_lakes_key(built: IamLake) -> None:
    """Data, manifests, audits, pointers, quarantine and landing copies: each asked SSE-KMS itself.

    The bucket default is SSE-S3, so an object that shows the KMS key was encrypted
    because the platform's own request said so, not by the default alone."""
    admin = built.admin()
    keys = [
        o["Key"]
        for page in admin.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in page.get("Contents", [])
    ]
    kinds = {
        "data": lambda k: k.endswith(".parquet") and "/quarantine/" not in k,
        "manifest": lambda k: k.endswith("/_manifest.json"),
        "audit": lambda k: k.endswith("/_audit.json"),
        "pointer": lambda k: k.endswith("/_published.json"),
        "quarantine": lambda k: k.startswith(f"{PREFIX}/quarantine/") and k.endswith(".parquet"),
        "landing": lambda k: k.startswith(f"{PREFIX}/landing/") and k.endswith(".csv"),
    }
    assert all(any(match(k) for k in keys) for match in kinds.values()), sorted(keys)
    unencrypted = []
    for key in keys:
        if key == f"{PREFIX}/_lake.json":
            continue  # written by this test's admin, standing in for `platform init-lake`
        head = admin.head_object(Bucket=BUCKET, Key=key)
        if (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")) != ("aws:kms", KMS_KEY):
            unencrypted.append((key, head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")))
    assert not unencrypted
    print(f"\n{len(keys)} objects, all aws:kms with {KMS_KEY}")


def test_unknown_profile_is_a_clear_configuration_error(
    iam_lake: IamLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_assets.governance.identity import IdentityError

    monkeypatch.setenv("PLATFORM_IDENTITY_PROFILE", "nosuch-{identity}")
    with pytest.raises(IdentityError, match="nosuch-serving.*not configured"):
        open_lake(iam_lake.settings, "serving")


def test_policies_follow_the_graph(tmp_path: Path) -> None:
    """Pure: a zone's writer reads exactly its inputs' prefixes, from the graph's deps."""
    documents = iam.policies(build_definitions(LakeResource(lake_url=str(tmp_path))), "b", "p")
    serving_reads = next(s for s in documents["serving"]["Statement"] if s["Sid"] == "ReadInputsAndOwn")
    inputs = {r.split(":::b/p/")[1] for r in serving_reads["Resource"]} - {"_lake.json"}
    assert {i for i in inputs if not i.startswith("serving/")} == {
        "curated/flights/*",
        "curated/planes/*",
        "curated/seattle_weather/*",
        "curated/weather/*",
        "ml/delay_model/*",
    }  # fmt: skip  (delay_scores reads the published model)


def test_iam_policies_command_prints_every_identity(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from platform_assets import cli

    monkeypatch.delenv("PLATFORM_IDENTITY_PROFILE")  # prod's own default: platform-{identity}
    assert cli.main(["iam-policies", "--env", "prod", "--bucket", "lake-prod", "--prefix", "platform"]) == 0
    report = json.loads(capsys.readouterr().out)
    # One writer per zone the graph has (models are their own zone, `ml`).
    assert list(report["identities"]) == ["landing", "raw", "curated", "serving", "ml", "operator", "analyst"]
    assert report["identities"]["serving"]["aws_profile"] == "platform-serving"
    sids = [s["Sid"] for s in report["bucket_policy"]["Statement"]]
    assert sids == ["DenyInsecureTransport", "DenyUnencryptedWrites", "DenyOtherEncryption"]
    writes = next(
        s for s in report["identities"]["curated"]["policy"]["Statement"] if s["Sid"] == "WriteOwnZone"
    )
    assert "arn:aws:s3:::lake-prod/platform/quarantine/flights/*" in writes["Resource"]
    assert not [r for r in writes["Resource"] if "/serving/" in r or "/raw/" in r]


def test_a_run_acts_as_its_zone_and_never_as_several() -> None:
    from platform_assets.governance.identity import IdentityError, resolve, run_identity

    assert run_identity({"zone": "serving"}, ["serving"]) == "serving"
    assert run_identity({}, ["curated", "curated"]) == "curated"  # untagged: the one zone it writes
    assert run_identity({}, []) is None
    with pytest.raises(IdentityError, match="launch one run per zone"):
        resolve(run_identity({}, ["raw", "curated"]), "platform-{identity}")
    # A zone tag does not make a run over several zones act as that zone's writer
    # (a landing run carried through the zones is tagged `raw` for the run queue).
    assert run_identity({"zone": "raw"}, ["raw", "curated", "serving"]) == "curated+raw+serving"
    with pytest.raises(IdentityError, match="launch one run per zone"):
        resolve(run_identity({"zone": "raw"}, ["raw", "curated"]), "platform-{identity}")
    assert resolve("raw+curated", "").access_key is None  # identities off: ambient credentials
