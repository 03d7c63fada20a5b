"""Peak resident memory of a process and all its descendants, sampled from /proc.

`getrusage(RUSAGE_CHILDREN)` gives only the largest single child; a backfill with
several run workers holds memory in several processes at once, so the sum over the
live tree is what the machine must have."""

from __future__ import annotations

import subprocess
import threading
import time

import psutil


def tree_rss_mb(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


class TreeMemory:
    """Samples the tree under `pid` every `interval` seconds on a thread until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self, interval: float) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))
            time.sleep(interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def wait(self, process: subprocess.Popen[bytes]) -> int:
        try:
            return process.wait()
        finally:
            self.stop()
