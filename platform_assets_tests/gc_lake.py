"""A lake with everything garbage collection must tell apart, and the set it may delete.

Built in two phases a few seconds apart; the retention policy's durations are set so
that phase A is "old" and phase B is "recent" at the chosen `now`. The deletable set
is written down here from what was built, not computed by the code under test."""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from platform_assets.governance.classification import Classification
from platform_assets.lake import layout
from platform_assets.lake.landing import landing_path
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import RawFile, VersionStore
from platform_assets.maintenance.retention import RetentionPolicy, Superseded

DAY = "2013-01-01"
THINGS = ("curated", "things")
GADGETS = ("curated", "gadgets")
SUMMARY = ("serving", "summary")
RAW_THINGS = ("raw", "things")
LONG = timedelta(days=365)


def _classified(level: str) -> dict:
    return {"classification": {"asset": level, "columns": {"x": level}, "declassified": {}}}


def _table(seed: int, rows: int = 50) -> pa.Table:
    return pa.table({"x": list(range(seed, seed + rows)), "label": [f"row{seed}-{i}" for i in range(rows)]})


def _interrupted(store: VersionStore, key: tuple[str, ...], run: str) -> str:
    """A version folder with data but no manifest: what a killed writer leaves."""
    version = layout.new_version_id(run)
    buffer = io.BytesIO()
    pq.write_table(_table(999), buffer)
    store.storage.write_bytes(
        f"{layout.version_path(key, DAY, version)}/part-00000.parquet", buffer.getvalue()
    )
    return version


@dataclass
class GcLake:
    storage: LakeStorage
    now: datetime
    threshold: timedelta
    expected: set[str] = field(default_factory=set)
    kept: dict[str, str] = field(default_factory=dict)

    def policy(self) -> RetentionPolicy:
        t = self.threshold
        quarantine = dict.fromkeys(Classification, LONG)
        quarantine[Classification.RESTRICTED] = t  # classification drives quarantine retention
        return RetentionPolicy(
            in_flight_grace=t,
            interrupted_grace=t,
            rollback_window=t,
            superseded={zone: Superseded(keep_versions=1, keep_for=t) for zone in layout.ASSET_ZONES},
            quarantine=quarantine,
            landing_ingested=t,
            canary_expiry=t,
        )


def build(storage: LakeStorage, gap_s: float = 2.5) -> GcLake:
    store = VersionStore(storage)
    path = lambda key, v: layout.version_path(key, DAY, v)  # noqa: E731
    # Phase A: everything here is old at `now`.
    things = [
        store.write_table(THINGS, DAY, _table(i), run_id=f"run{i}", extra=_classified("restricted"))[
            "version"
        ]
        for i in range(1, 6)
    ]
    a1, a2, a3, a4, a5 = things
    store.publish(THINGS, DAY, a1, actor="test")
    store.publish(THINGS, DAY, a2, actor="test")
    store.write_table(("quarantine", "things"), DAY, _table(100, 3), run_id="run1", version=a1,
                      extra={"rejected_from": list(THINGS)})  # fmt: skip
    g1 = store.write_table(GADGETS, DAY, _table(7), run_id="gad", extra=_classified("public"))["version"]
    store.publish(GADGETS, DAY, g1, actor="test")
    store.write_table(("quarantine", "gadgets"), DAY, _table(200, 3), run_id="gad", version=g1,
                      extra={"rejected_from": list(GADGETS)})  # fmt: skip
    upstream = [{"asset": "curated/things", "partition": DAY, "version": a1, "content_hash": "x"}]
    s1 = store.write_table(SUMMARY, DAY, _table(50), run_id="sum", extra={"upstream": upstream})["version"]
    store.publish(SUMMARY, DAY, s1, actor="test")
    i_old = _interrupted(store, THINGS, "killed")
    landed = b"x,label\n1,a\n2,b\n"
    ingested, not_ingested = landing_path("things", DAY), landing_path("things", "2013-01-02")
    storage.write_bytes(ingested, landed)
    storage.write_bytes(not_ingested, landed + b"3,c\n")
    r1 = store.write_file(
        RAW_THINGS, DAY, RawFile("2013-01-01.csv", landed, storage.uri(ingested)), run_id="raw"
    )
    store.publish(RAW_THINGS, DAY, r1["version"], actor="test")
    storage.write_bytes("canary/c-old/serving/summary/part-00000.parquet", b"old canary bytes")
    end_a = time.time()
    time.sleep(gap_s)
    start_b = time.time()
    # Phase B: recent at `now`.
    store.publish(THINGS, DAY, a3, actor="test")
    store.publish(THINGS, DAY, a4, actor="test")
    i_new = _interrupted(store, THINGS, "running")
    storage.write_bytes("canary/c-new/serving/summary/part-00000.parquet", b"new canary bytes")
    now = datetime.now(UTC) + timedelta(milliseconds=50)
    middle = datetime.fromtimestamp((end_a + start_b) / 2, UTC)
    lake = GcLake(storage, now, now - middle)
    lake.expected = {
        path(THINGS, a2),  # superseded, outside the window, named by nothing, beyond the newest kept
        path(THINGS, i_old),  # interrupted write past its grace
        layout.version_path(("quarantine", "things"), DAY, a1),  # restricted quarantine past retention
        ingested,  # landed, held by the published raw version, past landing retention
        "canary/c-old",  # canary past expiry
    }
    lake.kept = {
        path(THINGS, a1): "named as upstream by the published serving/summary version",
        path(THINGS, a3): "published within the rollback window",
        path(THINGS, a4): "published",
        path(THINGS, a5): "the newest superseded version (keep_versions = 1)",
        path(THINGS, i_new): "interrupted but younger than the in-flight grace",
        layout.version_path(("quarantine", "gadgets"), DAY, g1): "public quarantine: kept a year",
        not_ingested: "landed but never ingested",
        "canary/c-new": "canary within expiry",
    }
    return lake


def published_bytes(storage: LakeStorage) -> dict[str, str]:
    """sha256 of every file of every version a pointer names, or a rollback could return to."""
    store = VersionStore(storage)
    digests = {}
    for key in (THINGS, GADGETS, SUMMARY, RAW_THINGS):
        pointer = store.pointer(key, DAY)
        for version in {pointer["version"], *(e["version"] for e in pointer["history"][:2])}:
            manifest = store.manifest(key, DAY, version)
            prefix = layout.version_path(key, DAY, version)
            for name in [f["name"] for f in manifest["files"]] + [layout.MANIFEST_FILE]:
                data = storage.read_bytes(f"{prefix}/{name}")
                digests[f"{prefix}/{name}"] = hashlib.sha256(data).hexdigest()
        digests[layout.pointer_path(key, DAY)] = json.dumps(pointer, sort_keys=True)
    return digests
