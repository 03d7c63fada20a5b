"""Time `platform promote` of a month of serving data between two buckets on moto's S3 server.

Builds January 2013 in a staging bucket with the real pipeline (land, reference
tables, one single-run backfill), then promotes every serving asset's 31 partitions
into an empty prod bucket through the CLI, and once more (all no-ops). Finally runs
a canary of a deliberate change (on-time threshold 15 -> 30 minutes) on two days and
prints its Markdown report. Not a test: timings depend on the machine."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from datetime import date

import boto3
import dagster as dg
from moto.server import ThreadedMotoServer

from platform_assets.cli import main
from platform_assets.definitions import build_definitions
from platform_assets.domains.flights.config import domain_config
from platform_assets.domains.flights.source import land
from platform_assets.lake.resources import LakeResource

START, END = "2013-01-01", "2013-01-31"


def _bucket(endpoint: str, env: str) -> str:
    name = f"bench-{env}-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return f"s3://{name}/platform"


def _build(url: str, endpoint: str) -> float:
    started = time.perf_counter()
    lake = LakeResource(lake_url=url, endpoint_url=endpoint)
    lake.storage().write_bytes("_lake.json", json.dumps({"environment": "staging"}).encode())
    land(lake.storage(), date.fromisoformat(START), date.fromisoformat(END))
    defs = build_definitions(lake)
    # The flights domain (its daily assets share one calendar; ML has its own weekly one).
    assets = [
        a
        for a in defs.assets
        if isinstance(a, dg.AssetsDefinition)
        and {s.tags.get("domain") for s in a.specs} == {"flights"}
        and {s.group_name for s in a.specs} != {"ml"}
    ]
    everything = [*assets, *(defs.asset_checks or [])]
    instance = dg.DagsterInstance.ephemeral()
    for keys, tags in (
        ([a.key for a in assets if a.partitions_def is None], {}),
        (
            [a.key for a in assets if a.partitions_def is not None],
            {"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END},
        ),
    ):
        result = dg.materialize(
            everything, selection=keys, resources=defs.resources, instance=instance, tags=tags
        )
        assert result.success
    return time.perf_counter() - started


def run() -> int:
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}
    )
    os.environ["DAGSTER_HOME"] = tempfile.mkdtemp(prefix="bench-dagster-")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"  # noqa: SLF001 - port 0 picks a free one
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        staging, prod = _bucket(endpoint, "staging"), _bucket(endpoint, "prod")
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").put_object(
            Bucket=prod.split("/")[2], Key="platform/_lake.json", Body=json.dumps({"environment": "prod"})
        )
        os.environ.update({"PLATFORM_LAKE_URL_STAGING": staging, "PLATFORM_LAKE_URL_PROD": prod})
        print(f"built {START}..{END} in staging in {_build(staging, endpoint):.1f}s", flush=True)
        args = [
            "promote",
            "--from",
            "staging",
            "--to",
            "prod",
            "--select",
            "serving",
            "--start",
            START,
            "--end",
            END,
        ]
        timings = {}
        for label, extra in (
            ("dry run", ["--dry-run"]),
            ("promote", ["--approved-by", "bench"]),
            ("again", ["--approved-by", "bench"]),
        ):
            started = time.perf_counter()
            code = main([*args, *extra])
            timings[label] = time.perf_counter() - started
            print(f"{label}: exit {code} in {timings[label]:.1f}s", flush=True)
        domain_config()["serving"]["on_time_threshold_min"] = 30
        os.environ["PLATFORM_LAKE_URL"] = staging
        out = tempfile.mkdtemp(prefix="bench-canary-")
        select = ["serving/carrier_daily_performance", "serving/route_daily"]
        code = main(["canary", "--select", *select, "--partitions", "2013-01-02,2013-01-05", "--out", out])
        print(f"canary exit {code}")
        print(json.dumps(timings))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run())
