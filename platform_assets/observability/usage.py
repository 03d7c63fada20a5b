"""Per-process counts of storage calls, CPU time and peak memory, stamped onto manifests.

Run processes are short-lived and may run anywhere (a container, a Kubernetes job), so
they do not serve metrics themselves. Instead each version's manifest carries what its
process did since the previous version it wrote: storage requests, retries and errors
by operation, CPU seconds, and the process's peak resident memory. The exporter reads
manifests anyway (they are immutable, so each is read once), and summing the deltas
over all manifests gives totals that survive any process, without a push gateway or
another file in the lake. Calls made after a process's last write (an audit's pointer
move) are carried by its next manifest, or not at all if there is none."""

from __future__ import annotations

import resource
import sys
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

REQUESTS = "requests"
RETRIES = "retries"
ERRORS = "errors"

_lock = threading.Lock()
_calls: dict[str, dict[str, int]] = defaultdict(lambda: {REQUESTS: 0, RETRIES: 0, ERRORS: 0})
_cpu_mark = [0.0]


def counted(operation: str, call: Callable[[], T]) -> Callable[[], T]:
    """`call`, counting each attempt as a request, every attempt after the first as a
    retry, and every attempt that raised as an error, except "not found", which is the
    normal answer to "is there a pointer yet?" rather than a fault."""
    attempts = [0]

    def attempt() -> T:
        with _lock:
            counts = _calls[operation]
            counts[REQUESTS] += 1
            counts[RETRIES] += attempts[0] > 0
            attempts[0] += 1
        try:
            return call()
        except FileNotFoundError:
            raise
        except BaseException:
            with _lock:
                _calls[operation][ERRORS] += 1
            raise

    return attempt


def take_storage_calls() -> dict[str, dict[str, int]]:
    """The counts since the last take, by operation; resets them."""
    with _lock:
        taken = {op: dict(counts) for op, counts in _calls.items() if any(counts.values())}
        _calls.clear()
    return taken


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def stamp(extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` (a manifest's extra facts) plus this process's usage since the last stamp.

    `timings.cpu_seconds` is the CPU the process spent since it last wrote a version
    (for a step's first partition: the step's work), `timings.peak_rss_bytes` the
    process's high-water mark so far, `storage` the calls counted since then."""
    with _lock:
        now = _cpu_seconds()
        spent, _cpu_mark[0] = now - _cpu_mark[0], now
    timings = {
        **extra.get("timings", {}),
        "cpu_seconds": round(spent, 3),
        "peak_rss_bytes": _peak_rss_bytes(),
    }
    return {**extra, "timings": timings, "storage": take_storage_calls()}
