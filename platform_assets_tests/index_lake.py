"""A year of one small daily asset on moto's S3 server, for counting what reads cost.

Written through the platform's own `VersionStore` into a local folder (publish keeps
the index), then copied object for object into the server's in-process store: a year
over HTTP costs a dozen requests per partition. The index entries recorded locally
name SHA-256 tokens, which no S3 listing shows, so the copies' entries are given the
server's ETags of the same pointers and manifests, as publishes on S3 record them."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from platform_assets.lake import publish_index
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets_tests.conftest import S3_TEST_ENV, free_port, make_bucket
from platform_assets_tests.moto_s3 import RequestLog, S3Server

KEY = ["serving", "bench_daily"]
NAME = "serving/bench_daily"
DAYS = [(date(2013, 1, 1) + timedelta(days=i)).isoformat() for i in range(365)]
ROWS = 200


def day_table(day: str) -> pa.Table:
    """A day of numbers regenerated identically from the day alone."""
    rng = np.random.default_rng(date.fromisoformat(day).toordinal())
    return pa.table(
        {
            "date": [day] * ROWS,
            "flights": rng.integers(0, 50, ROWS),
            "delay": rng.normal(10.0, 5.0, ROWS),
        }
    )


@dataclass
class CountedS3:
    endpoint: str
    log: RequestLog

    def storage(self, url: str) -> LakeStorage:
        return LakeStorage.from_url(url, endpoint_url=self.endpoint)


@contextmanager
def counted_s3() -> Iterator[CountedS3]:
    """moto's server on a free port, counting every request it answers."""
    import os

    for name, value in S3_TEST_ENV.items():
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = S3Server(ip_address="127.0.0.1", port=free_port(), verbose=False)
    log = RequestLog()
    server.request_log = log
    server.start()
    try:
        yield CountedS3(f"http://127.0.0.1:{server._port}", log)
    finally:
        server.stop()


def build_local(root: Path, days: list[str] = DAYS) -> LakeStorage:
    storage = LakeStorage.from_url(str(root))
    store = VersionStore(storage)
    for day in days:
        manifest = store.write_table(KEY, day, day_table(day), run_id="bench")
        store.publish(KEY, day, manifest["version"])
    return storage


def seed_s3(local: LakeStorage, s3: CountedS3) -> LakeStorage:
    """The local lake in a new bucket, its index entries naming the server's ETags."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket = make_bucket(s3.endpoint)
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    root = Path(local.root)
    etags: dict[str, str] = {}
    shards: list[Path] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or path.name.endswith(".lock"):
            continue
        if publish_index.is_index_path(rel):
            shards.append(path)
            continue
        body = path.read_bytes()
        if path.suffix == ".json":  # manifests name their own location
            body = body.replace(local.url.encode(), f"s3://{bucket}/platform".encode())
        etags[rel] = backend.put_object(bucket, f"platform/{rel}", body).etag
    for path in shards:  # what each publish would have recorded on S3: the tokens it wrote and read
        shard = json.loads(path.read_bytes())
        for partition, entry in shard["partitions"].items():
            entry["pointer_token"] = etags[publish_index.pointer_rel(KEY, partition)]
            entry["manifest_token"] = etags[publish_index.manifest_rel(KEY, partition, entry["version"])]
        rel = path.relative_to(root).as_posix()
        backend.put_object(bucket, f"platform/{rel}", json.dumps(shard).encode())
    return s3.storage(f"s3://{bucket}/platform")


def drop_index(storage: LakeStorage) -> None:
    """The lake as it was before the index: the reads' "before"."""
    folder = f"{'/'.join(KEY)}/{publish_index.INDEX_FOLDER}"
    if storage.is_local:
        shutil.rmtree(storage.full_path(folder), ignore_errors=True)
        return
    for item in list(storage.list_files(folder)):
        storage.fs.delete_file(storage.full_path(item.path))
