"""How a process that runs the platform's steps is tuned for their work."""

import gc

# A backfill allocates millions of containers (parsed records, manifests, Dagster's own
# events), many of which live for a step. At Python's default first threshold (700) a
# quarter's backfill collected the young generation 2,823 times and spent 2.8-2.9 s of
# a 35-39 s run in the collector; at 10,000, 185 times and 1.4-1.9 s (2-core machine,
# 2026-12-02; benchmarks/RESULTS.md). Memory is barely affected: at most 10,000 young
# objects wait for a collection instead of 700.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_collector() -> None:
    """Collect less often in a run's process; never more often than the process already does."""
    current = gc.get_threshold()
    if current[0] and current[0] < GC_THRESHOLDS[0]:  # 0: collection is off, leave it off
        gc.set_threshold(*GC_THRESHOLDS)
