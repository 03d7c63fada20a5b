"""Catalog SQL, over and over, through a filesystem written in Python: run as a child
process by `test_catalog.py`, since a deadlock that holds the GIL can only be ended
from outside (faulthandler's watchdog is a C thread and needs no GIL)."""

from __future__ import annotations

import faulthandler
import sys
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

from platform_assets.catalog import Catalog
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets_tests.counting_fs import counting_storage

KEY = ["serving", "probe_daily"]
DAYS = [(date(2013, 3, 1) + timedelta(days=i)).isoformat() for i in range(14)]
ROWS = 500


def day_table(day: str) -> pa.Table:
    base = date.fromisoformat(day).toordinal()
    return pa.table({"date": [day] * ROWS, "x": [base * 1_000 + i for i in range(ROWS)]})


def main(root: Path, rounds: int, watchdog_s: float) -> None:
    faulthandler.dump_traceback_later(watchdog_s, exit=True)
    storage = LakeStorage.from_url(str(root))
    store = VersionStore(storage)
    for day in DAYS:
        store.publish(KEY, day, store.write_table(KEY, day, day_table(day), run_id="probe")["version"])
    days = DAYS[3:10]  # the query's filter keeps these; each scan opens their 7 files
    expected = sum(sum(day_table(d).column("x").to_pylist()) for d in days)
    for _ in range(rounds):
        counted, counter = counting_storage(storage)
        found = Catalog(counted).sql(
            "SELECT sum(x) AS total FROM probe_daily WHERE date BETWEEN $a AND $b",
            {"a": days[0], "b": days[-1]},
        )
        assert int(found["total"].iloc[0]) == expected
        assert len(counter.opened_files(".parquet")) == len(days)  # read through Python, every file
    print(f"{rounds} queries over {len(days)} files each, sums equal", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
