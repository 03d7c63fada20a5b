"""S3 requests a catalog read costs, before and after the publish index.

A year of one daily asset (365 partitions) on moto's S3 server, whose every answered
request is counted at the server (boto3's and pyarrow's alike, data reads included).
Each query runs once with the per-asset index of published versions and once with it
removed (how every lake read before it: a pointer and a manifest per partition), on
fresh catalogs. The last line is for `make bench` to parse:

    catalog_requests year_before=<n> ... month_after=<n> year_plan_before=<n> ... month_plan_after=<n>

(`<query>_<when>` counts every request; `<query>_plan_<when>` leaves out the GETs of
Parquet data, i.e. what planning cost.)

    .venv/bin/python benchmarks/catalog_requests.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from platform_assets.catalog import Catalog  # noqa: E402
from platform_assets.lake.storage import LakeStorage  # noqa: E402
from platform_assets_tests.index_lake import (  # noqa: E402
    DAYS,
    NAME,
    ROWS,
    build_local,
    counted_s3,
    drop_index,
    seed_s3,
)

DAY = "2013-06-15"
MONTH = ("2013-03-01", "2013-03-31")


def queries() -> dict[str, Callable[[Catalog], int]]:
    """Name -> a read through the catalog, returning the rows it saw (checked below)."""
    return {
        "year": lambda c: len(c.load(NAME, columns=["flights"])),
        "day": lambda c: int(
            c.sql("SELECT count(*) AS n FROM bench_daily WHERE date = $d", {"d": DAY})["n"].iloc[0]
        ),
        "month": lambda c: int(
            c.sql(
                "SELECT count(*) AS n FROM bench_daily WHERE date BETWEEN $a AND $b",
                {"a": MONTH[0], "b": MONTH[1]},
            )["n"].iloc[0]
        ),
    }


EXPECTED_ROWS = {"year": ROWS * len(DAYS), "day": ROWS, "month": ROWS * 31}


def count(storage: LakeStorage, log, read: Callable[[Catalog], int], expected: int) -> dict[str, object]:
    """Requests one read cost: all of them, and those that were not data reads (planning)."""
    log.reset()
    rows = read(Catalog(storage))
    if rows != expected:
        raise SystemExit(f"wrong answer: {rows} rows, expected {expected}")
    data = sum(1 for method, path, _ in log.requests if method == "GET" and path.endswith(".parquet"))
    return {"requests": len(log.requests), "planning": len(log.requests) - data, "by_method": log.by_method()}


def main() -> dict[str, dict[str, object]]:
    with tempfile.TemporaryDirectory() as folder, counted_s3() as s3:
        local = build_local(Path(folder) / "lake")
        storage = seed_s3(local, s3)
        results: dict[str, dict[str, object]] = {}
        for name, read in queries().items():
            results[f"{name}_after"] = count(storage, s3.log, read, EXPECTED_ROWS[name])
        drop_index(storage)
        for name, read in queries().items():
            results[f"{name}_before"] = count(storage, s3.log, read, EXPECTED_ROWS[name])
    print(json.dumps(results, indent=2, sort_keys=True))
    order = ["year_before", "year_after", "day_before", "day_after", "month_before", "month_after"]
    line = " ".join(f"{k}={results[k]['requests']}" for k in order)
    plans = " ".join(f"{k.replace('_', '_plan_', 1)}={results[k]['planning']}" for k in order)
    print(f"catalog_requests {line} {plans}")
    return results


if __name__ == "__main__":
    main()
