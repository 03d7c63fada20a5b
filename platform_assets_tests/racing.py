"""Worker processes that race on one partition's publish pointer (spawned by test_integrity).

Each worker is a separate Python process with its own storage client, as concurrent
runs are; it records every pointer move it was told succeeded, so the test can check
that the pointer's history holds all of them and nothing else."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from platform_assets.lake import history
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import StalePublishError, VersionStore

KEY = ["curated", "race"]
DAY = "2013-05-01"


def store_for(url: str, endpoint: str | None) -> VersionStore:
    return VersionStore(LakeStorage.from_url(url, endpoint_url=endpoint))


def publisher(url: str, endpoint: str | None, versions: list[str], start_at: float) -> list[dict[str, Any]]:
    """Publish `versions` in order as fast as possible; return the moves that took effect."""
    store = store_for(url, endpoint)
    time.sleep(max(0.0, start_at - time.time()))
    done = []
    for version in versions:
        try:
            pointer = store.publish(KEY, DAY, version, actor="racer")
        except StalePublishError:
            continue  # a newer version is already published: refused, not lost
        entry = pointer["history"][0]
        if entry["version"] == version and entry["event"] == "publish":
            done.append({"version": version, "event": "publish", "at": entry["at"]})
    return done


def rollbacker(url: str, endpoint: str | None, targets: list[str], start_at: float) -> list[dict[str, Any]]:
    """Roll back to each of `targets` in turn, racing the publishers."""
    store = store_for(url, endpoint)
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.time() + 60
    while store.pointer(KEY, DAY) is None and time.time() < deadline:
        time.sleep(0.005)  # a rollback needs something published to go back from
    done = []
    for target in targets:
        time.sleep(random.uniform(0.005, 0.03))  # spread over the publishers' run
        try:
            result = history.rollback(store, KEY, DAY, to=target, reason="race")
        except history.RollbackError:
            continue  # already the published version
        done.append({"version": result.to_version, "event": "rollback", "at": result.at})
    return done


def rewriter(
    url: str, endpoint: str | None, versions: list[str], start_at: float, cycles: int, done: str
) -> int:
    """Rewrite the pointer `cycles` times over (publish forward, roll back); then touch `done`."""
    store = store_for(url, endpoint)
    time.sleep(max(0.0, start_at - time.time()))
    writes = 0
    try:
        for _ in range(cycles):
            for version in versions[1:]:
                store.publish(KEY, DAY, version, actor="rewriter")
                writes += 1
            history.rollback(store, KEY, DAY, to=versions[0], reason="again")
            writes += 1
    finally:
        Path(done).touch()
    return writes


def reader(url: str, endpoint: str | None, start_at: float, done: str) -> tuple[int, list[str]]:
    """Read the pointer until the rewriter is done; return (reads, failures)."""
    store = store_for(url, endpoint)
    store.storage.read_object("_warm_up")  # client set up before the race starts
    time.sleep(max(0.0, start_at - time.time()))
    reads, errors = 0, []
    while not Path(done).exists():
        try:
            pointer = store.pointer(KEY, DAY)
            assert pointer is None or pointer["version"]
        except Exception as error:  # noqa: BLE001 - every failure is what the test counts
            errors.append(f"{type(error).__name__}: {error}")
        reads += 1
    return reads, errors


def partition_publisher(url: str, endpoint: str | None, moves: list[tuple[str, str]], start_at: float) -> int:
    """Publish (partition, version) pairs of one asset (`KEY`) as fast as possible: each
    process a different partition, all in one index shard; return how many it published."""
    store = store_for(url, endpoint)
    time.sleep(max(0.0, start_at - time.time()))
    for partition, version in moves:
        store.publish(KEY, partition, version, actor="racer")
    return len(moves)
