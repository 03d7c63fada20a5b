"""Bytes garbage collection reclaims after a month of rebuilds, and what an audit record costs.

Part 1 lands January 2013, builds every daily asset for the month, rebuilds it twice
more (three versions of each partition, as a month of daily rebuilds of changed code
leaves), then runs gc as it would a month later with the packaged retention.toml.
Part 2 times `VersionStore.publish` on a moto S3 server for 365 partitions, and the
audit record's share of it.

    .venv/bin/python benchmarks/gc_month.py [--days 30] [--rebuilds 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg


def _lake_bytes(storage) -> int:  # noqa: ANN001
    import pyarrow.fs as pafs

    infos = storage.fs.get_file_info(pafs.FileSelector(storage.root, recursive=True))
    return sum(i.size for i in infos if i.type == pafs.FileType.File)


def month_of_rebuilds(days: int, rebuilds: int) -> None:
    from platform_assets.definitions import build_definitions
    from platform_assets.domains.flights.source import land
    from platform_assets.lake.resources import LakeResource
    from platform_assets.maintenance import gc

    root = Path(tempfile.mkdtemp(prefix="gc-month-"))
    resource = LakeResource(lake_url=str(root / "lake"))
    storage = resource.storage()
    start = date(2013, 1, 1)
    end = start + timedelta(days=days - 1)
    land(storage, start, end)
    defs = build_definitions(resource)
    # The flights domain (its daily assets share one calendar; ML has its own weekly one).
    assets = [
        a
        for a in defs.assets
        if isinstance(a, dg.AssetsDefinition)
        and {s.tags.get("domain") for s in a.specs} == {"flights"}
        and {s.group_name for s in a.specs} != {"ml"}
    ]
    graph = [*assets, *(defs.asset_checks or [])]
    instance = dg.DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    dg.materialize(graph, selection=[a.key for a in assets if a.partitions_def is None],
                   resources=defs.resources, instance=instance, run_config=quiet)  # fmt: skip
    daily = [a.key for a in assets if a.partitions_def is not None]
    tags = {"dagster/asset_partition_range_start": str(start), "dagster/asset_partition_range_end": str(end)}
    for n in range(rebuilds):
        began = time.perf_counter()
        result = dg.materialize(graph, selection=daily, resources=defs.resources, instance=instance,
                                tags=tags, run_config=quiet)  # fmt: skip
        assert result.success
        print(f"build {n + 1}/{rebuilds} of {days} day(s): {time.perf_counter() - began:.1f}s", flush=True)
    from platform_assets.catalog import Catalog

    def reads() -> dict[str, str]:
        catalog = Catalog(storage, role="steward")
        return {a: catalog.load(a).to_csv() for a in catalog.assets() if not a.startswith("raw/")}

    before_reads = reads()
    total = _lake_bytes(storage)
    later = datetime.now(UTC) + timedelta(days=30)
    report = gc.collect(storage, apply=True, now=later)
    after = _lake_bytes(storage)
    assert reads() == before_reads, "a published read changed"
    share = 100 * report.bytes_reclaimed / total
    print(f"lake before gc: {total:,} bytes; gc a month later reclaimed {report.bytes_reclaimed:,} bytes "
          f"({share:.1f}%), {len(report.deleted)} item(s) in {report.seconds:.1f}s; "
          f"lake after: {after:,} bytes", flush=True)  # fmt: skip
    for kind, figures in sorted(report.by_kind().items()):
        print(f"  {kind}: {figures['items']} item(s), {figures['bytes']:,} bytes", flush=True)
    again = gc.collect(storage, apply=True, now=later)
    print(f"second run: {len(again.deleted)} item(s), {again.bytes_reclaimed} bytes", flush=True)


def audit_cost(partitions: int) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    from platform_assets.governance import audit_log
    from platform_assets.lake.storage import LakeStorage
    from platform_assets.lake.versions import VersionStore
    from platform_assets_tests.conftest import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request would dominate
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="audit-cost")
        storage = LakeStorage.from_url("s3://audit-cost/lake", endpoint_url=endpoint)
        store = VersionStore(storage)
        import pyarrow as pa

        table = pa.table({"x": list(range(1000))})
        keys = [str(date(2013, 1, 1) + timedelta(days=i)) for i in range(partitions)]
        versions = {
            k: store.write_table(["serving", "bench"], k, table, run_id="bench")["version"] for k in keys
        }
        began = time.perf_counter()
        for k in keys:
            store.publish(["serving", "bench"], k, versions[k], actor="bench")
        publish_s = time.perf_counter() - began
        samples = []
        for k in keys:
            t = time.perf_counter()
            audit_log.append(
                storage, "publish", asset="serving/bench", partitions=[k], versions=[versions[k]]
            )
            samples.append(time.perf_counter() - t)
        audit_s = sum(samples)
        print(f"{partitions} publishes on moto S3 (pointer read + write + audit record): {publish_s:.2f}s; "
              f"one audit record alone: median {statistics.median(samples) * 1000:.1f} ms, "
              f"total {audit_s:.2f}s ({100 * audit_s / publish_s:.0f}% of the publishes)",
              flush=True)  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rebuilds", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=365)
    parser.add_argument("--skip-month", action="store_true")
    args = parser.parse_args()
    if not args.skip_month:
        month_of_rebuilds(args.days, args.rebuilds)
    audit_cost(args.partitions)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
