"""Manifests say how and from what each version was built; the UI says the same and links there."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.domains.flights.serving import SERVING_CODE_VERSION
from platform_assets.lake import history
from platform_assets.lake.manifest import data_version
from platform_assets.lake.versions import decode_schema, schema_hash
from platform_assets_tests.conftest import Lake, local_lake, s3_lake
from platform_assets_tests.pipeline import land_days, materialize_daily, materialize_reference

pytestmark = pytest.mark.integration

DAY = "2013-05-20"
SERVING = dg.AssetKey(["serving", "carrier_daily_performance"])
SERVING_KEYS = [
    SERVING,
    dg.AssetKey(["serving", "route_daily"]),
    dg.AssetKey(["serving", "flight_delay_features"]),
]
SECRET = "s3cr3t-that-must-never-reach-a-manifest"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Built:
    lake: Lake
    instance: dg.DagsterInstance
    run: dg.ExecuteInProcessResult


@pytest.fixture(scope="module", params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """A real day built through the whole graph, with a secret in the environment."""
    saved = os.environ.get("AWS_SECRET_ACCESS_KEY")
    os.environ["AWS_SECRET_ACCESS_KEY"] = SECRET  # moto accepts any key
    if request.param == "local":
        lake = local_lake(tmp_path_factory.mktemp("manifest"))
    else:
        lake = s3_lake(request.getfixturevalue("s3_endpoint"))
    instance = dg.DagsterInstance.ephemeral()
    land_days(lake, DAY, DAY)
    materialize_reference(lake, instance)
    yield Built(lake, instance, materialize_daily(lake, instance, DAY))
    if saved is not None:
        os.environ["AWS_SECRET_ACCESS_KEY"] = saved


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _rel(lake: Lake, uri: str) -> str:
    """A lake-relative path from a URI the UI shows."""
    assert uri.startswith(lake.storage.url + "/"), uri
    return uri[len(lake.storage.url) + 1 :]


def _manifest_at(lake: Lake, uri: str) -> dict:
    return json.loads(lake.storage.read_bytes(_rel(lake, uri)))


def _latest_event(instance: dg.DagsterInstance, key: dg.AssetKey, day: str) -> dg.EventLogRecord:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
    ).records
    return records[0]


def _rebuild_serving(built: Built, day: str) -> dg.ExecuteInProcessResult:
    defs = build_definitions(built.lake.resource)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize(
        [*assets, *(defs.asset_checks or [])],  # the audits publish what passes
        selection=SERVING_KEYS,
        partition_key=day,
        resources=defs.resources,
        instance=built.instance,
    )
    assert result.success
    return result


def test_manifest_records_code_environment_config_and_data(built: Built) -> None:
    store = built.lake.versions
    manifest = store.resolve(SERVING.path, DAY)

    assert manifest["run_id"] == manifest["dagster"]["run_id"] == built.run.run_id
    assert manifest["dagster"]["step_key"] == "serving__carrier_daily_performance"
    assert manifest["code_version"] == SERVING_CODE_VERSION
    code = manifest["code"]
    assert code["git_commit"] == _git("rev-parse", "HEAD")
    assert code["git_dirty"] is bool(_git("status", "--porcelain", "--untracked-files=no"))
    assert code["lock_sha256"] == hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()
    assert len(code["installed_sha256"]) == 64
    assert code["python"] == platform.python_version()
    assert code["packages"]["dagster"] == dg.__version__
    assert code["packages"]["pyarrow"] == pa.__version__

    config = manifest["config"]
    assert config["settings"]["lake_url"] == built.lake.url
    assert config["settings"]["s3_endpoint_url"] == built.lake.endpoint_url
    flights_toml = config["files"]["platform_assets/domains/flights/flights.toml"]
    assert flights_toml["serving"]["on_time_threshold_min"] == 15
    assert SECRET not in json.dumps(manifest)

    # The exact inputs: what each upstream partition's pointer named when it was read.
    upstream = {u["asset"]: u for u in manifest["upstream"]}
    assert set(upstream) == {"curated/flights"}
    flights = store.resolve(["curated", "flights"], DAY)
    assert upstream["curated/flights"] == {
        "asset": "curated/flights",
        "partition": DAY,
        "version": flights["version"],
        "content_hash": flights["content_hash"],
        "manifest_uri": flights["manifest_uri"],
    }

    # Data facts, recomputed from the bytes in storage.
    table = store.read_table(manifest)
    assert manifest["row_count"] == table.num_rows > 0
    assert manifest["schema_hash"] == schema_hash(table.schema)
    assert decode_schema(manifest) == table.schema
    prefix = _rel(built.lake, manifest["uri"])
    listed = {f.path.rsplit("/", 1)[1]: f.size for f in built.lake.storage.list_files(prefix)}
    assert {n for n in listed if not n.startswith("_")} == {f["name"] for f in manifest["files"]}
    assert manifest["bytes"] == sum(listed[f["name"]] for f in manifest["files"])
    digests = [
        hashlib.sha256(built.lake.storage.read_bytes(f"{prefix}/{f['name']}")).hexdigest()
        for f in manifest["files"]
    ]
    assert manifest["content_hash"] == hashlib.sha256("".join(digests).encode()).hexdigest()

    timings = manifest["timings"]
    assert timings["step_started_at"] <= timings["write_started_at"] <= manifest["created_at"]
    assert timings["seconds_before_write"] >= 0 and timings["write_seconds"] >= 0
    # Check results: the audit that ran after the write recorded its verdict beside the manifest.
    assert "checks" in manifest
    audit, checks = history.audit_state(store, manifest)
    assert audit == history.AUDIT_PASSED and checks["contract"]["passed"] is True

    raw = store.resolve(["raw", "flights"], DAY)
    landed = built.lake.storage.read_bytes(f"landing/flights/{DAY}.csv")
    assert raw["content_hash"] == hashlib.sha256(landed).hexdigest()
    assert raw["code"]["git_commit"] == code["git_commit"]


def test_ui_leads_from_a_partition_to_its_manifest_inputs_and_commit(built: Built) -> None:
    event = _latest_event(built.instance, SERVING, DAY)
    metadata = event.asset_materialization.metadata
    assert event.run_id == built.run.run_id
    manifest = _manifest_at(built.lake, metadata["platform/manifest_uri"].url)
    assert manifest == built.lake.versions.resolve(SERVING.path, DAY)
    assert metadata["platform/version"].value == manifest["version"]
    assert metadata["platform/content_hash"].value == manifest["content_hash"]
    assert metadata["dagster/row_count"].value == manifest["row_count"]
    assert metadata["platform/upstream_versions"].data == manifest["upstream"]
    assert metadata["platform/git_commit"].value == manifest["code"]["git_commit"]
    assert metadata["platform/lock_sha256"].value == manifest["code"]["lock_sha256"]
    assert event.asset_materialization.tags["dagster/data_version"] == manifest["content_hash"]
    # One hop further: the upstream manifest and the commit that built it.
    for entry in manifest["upstream"]:
        upstream = _manifest_at(built.lake, entry["manifest_uri"])
        assert (upstream["version"], upstream["partition"]) == (entry["version"], DAY)
        assert upstream["code"]["git_commit"] == manifest["code"]["git_commit"]


def test_a_backfill_shares_one_data_version_that_changes_with_any_partition() -> None:
    """Dagster keeps one data version per output, so a single-run backfill hashes its partitions'."""
    one = {"partition": "2013-01-01", "content_hash": "a" * 64}
    two = {"partition": "2013-01-02", "content_hash": "b" * 64}
    assert data_version([one]).value == "a" * 64
    assert data_version([one, two]) == data_version([two, one])
    assert data_version([one, {**two, "content_hash": "c" * 64}]) != data_version([one, two])


def test_rebuilds_record_exactly_the_upstream_versions_they_read(built: Built) -> None:
    store, day = built.lake.versions, DAY
    before = store.resolve(SERVING.path, day)
    first_tag = _latest_event(built.instance, SERVING, day).asset_materialization.tags["dagster/data_version"]

    # Unchanged inputs: a new version with the same content, and the same Dagster data version.
    _rebuild_serving(built, day)
    again = store.resolve(SERVING.path, day)
    assert before["version"] < again["version"]
    assert before["content_hash"] == again["content_hash"]
    again_tag = _latest_event(built.instance, SERVING, day).asset_materialization.tags["dagster/data_version"]
    assert again_tag == first_tag == before["content_hash"]

    # Publish a new upstream version (without United's flights) and rebuild downstream.
    flights = store.read_table(store.resolve(["curated", "flights"], day))
    assert pc.sum(pc.equal(flights["carrier"], "UA")).as_py() > 0
    edited = flights.filter(pc.not_equal(flights["carrier"], "UA"))
    new_upstream = store.write_table(["curated", "flights"], day, edited, run_id="handedit")
    store.publish(["curated", "flights"], day, new_upstream["version"], reason="test: drop UA")
    _rebuild_serving(built, day)

    for key in SERVING_KEYS:
        manifest = store.resolve(key.path, day)
        read = {u["asset"]: u for u in manifest["upstream"]}
        assert read["curated/flights"]["version"] == new_upstream["version"]
        assert read["curated/flights"]["content_hash"] == new_upstream["content_hash"]
        for asset, entry in read.items():  # every other input: what is published now
            assert entry["version"] == store.published_version(asset.split("/"), entry["partition"])
    rebuilt = store.resolve(SERVING.path, day)
    carriers = store.read_table(rebuilt, columns=["carrier"]).column("carrier").to_pylist()
    assert "UA" not in carriers and len(carriers) > 5  # the data really came from the new version
    tags = _latest_event(built.instance, SERVING, day).asset_materialization.tags
    assert tags["dagster/data_version"] == rebuilt["content_hash"] != first_tag
