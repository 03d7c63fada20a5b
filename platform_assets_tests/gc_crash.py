"""Run garbage collection and kill the process outright at its Nth file deletion.

`python -m platform_assets_tests.gc_crash LAKE_URL ENDPOINT|- NOW_ISO THRESHOLD_S N`.
`os._exit` skips every `finally` and buffer flush: what a SIGKILL or a lost node does."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta

import pyarrow.fs as pafs

from platform_assets.lake.storage import LakeStorage
from platform_assets.maintenance import gc
from platform_assets_tests.counting_fs import CountingHandler
from platform_assets_tests.gc_lake import GcLake

CRASH_EXIT_CODE = 17


class CrashingHandler(CountingHandler):
    def __init__(self, inner: pafs.FileSystem, crash_at: int) -> None:
        super().__init__(inner)
        self.deletions = 0
        self.crash_at = crash_at

    def delete_file(self, path: str) -> None:
        self.deletions += 1
        if self.deletions == self.crash_at:
            os._exit(CRASH_EXIT_CODE)
        super().delete_file(path)


def main(url: str, endpoint: str, now: str, threshold_s: str, crash_at: str) -> None:
    real = LakeStorage.from_url(url, endpoint_url=None if endpoint == "-" else endpoint)
    handler = CrashingHandler(real.fs, int(crash_at))
    storage = LakeStorage(
        pafs.PyFileSystem(handler), real.root, real.url,
        endpoint_url=real.endpoint_url, region=real.region, is_local=real.is_local,
    )  # fmt: skip
    lake = GcLake(storage, datetime.fromisoformat(now), timedelta(seconds=float(threshold_s)))
    gc.collect(storage, lake.policy(), apply=True, now=lake.now)


if __name__ == "__main__":
    main(*sys.argv[1:])
