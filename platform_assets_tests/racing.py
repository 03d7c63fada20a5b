"""Worker processes that race on one partition's publish pointer (spawned by test_integrity).

Each worker is a separate Python process with its own storage client, as concurrent
runs are; it records every pointer move it was told succeeded, so the test can check
that the pointer's history holds all of them and nothing else."""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import queue
import random
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from platform_assets.lake import history
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import StalePublishError, VersionStore

KEY = ["curated", "race"]
DAY = "2013-05-01"


def _child(
    job: Callable[..., Any], args: tuple[Any, ...], results: Any, index: int, stacks: str, dump_after: float
) -> None:
    # A worker still running when the race's time is up leaves its threads' stacks
    # behind, so a hang says where it hung.
    with open(stacks, "w") as out:
        faulthandler.dump_traceback_later(dump_after, file=out)
        results.put((index, job(*args)))
        faulthandler.cancel_dump_traceback_later()


def run(jobs: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], timeout: float) -> list[Any]:
    """Run each (function, args) in its own spawned process at once; their results in order.

    Past `timeout` the stragglers are killed (SIGKILL, so nothing can hold them up) and the
    race fails naming them, with the stacks they were in."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    folder = tempfile.mkdtemp(prefix="race-")
    stacks = [os.path.join(folder, f"worker-{i}.txt") for i in range(len(jobs))]
    dump_after = max(1.0, timeout - 15)  # before the deadline, so the stacks are there to read
    processes = [
        context.Process(target=_child, args=(job, args, results, i, stacks[i], dump_after), daemon=True)
        for i, (job, args) in enumerate(jobs)
    ]
    for process in processes:
        process.start()
    found: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(found) < len(jobs) and time.monotonic() < deadline:
            try:
                index, value = results.get(timeout=1)
            except queue.Empty:  # check the deadline, and whether a worker died (its error is on stderr)
                dead = {i: p.exitcode for i, p in enumerate(processes) if p.exitcode and i not in found}
                if dead:
                    raise AssertionError(f"race worker(s) died, exit codes {dead}") from None
                continue
            found[index] = value
        if len(found) < len(jobs):
            hung = [i for i in range(len(jobs)) if i not in found]
            time.sleep(1)
            where = "\n".join(f"--- worker {i}\n{Path(stacks[i]).read_text()[-4000:]}" for i in hung)
            raise AssertionError(f"race worker(s) {hung} still running after {timeout:.0f} s:\n{where}")
    finally:
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
            process.join(timeout=10)
    return [found[i] for i in range(len(jobs))]


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
