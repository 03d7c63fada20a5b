"""Chunked multi-run backfills: a long history as runs of at most N partitions each.

A single-run backfill of ten years holds ten years of every asset in one process;
runs of a bounded number of days keep memory flat whatever the range, and let the
runs proceed side by side. Each chunk is one `dagster asset materialize` run over
its partition range (the same path a user takes, recorded in the instance like any
run), at most `workers` at once, never more than the instance's run queue allows
(`max_concurrent_runs` and the `zone` tag limit of dagster.yaml): a backfill may not
take more run slots here than the daemon would give it. On Kubernetes the same
chunks are what Dagster's `BackfillPolicy.multi_run(max_partitions_per_run=N)`
would queue as separate run pods.

The reference (unpartitioned) ancestors of the daily assets are built first, once;
a chunk that fails stops new chunks from starting and names its log."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from platform_assets.domains import DEFAULT_DOMAIN, domain_names

DEFAULT_MODULE = "platform_assets.definitions"
ZONE_TAG = "zone"
DOMAIN_TAG = "domain"  # every domain tags its assets with its name
# Each run's events are in the instance (UI, `dagster` CLI); its log file keeps warnings and errors.
_QUIET = '{"loggers": {"console": {"config": {"log_level": "WARNING"}}}}'


@dataclass(frozen=True)
class Chunk:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"{self.start.isoformat()}...{self.end.isoformat()}"


@dataclass
class BackfillReport:
    chunks: list[Chunk]
    seconds: dict[Chunk, float] = field(default_factory=dict)
    failed: dict[Chunk, Path] = field(default_factory=dict)
    workers: int = 1

    @property
    def ok(self) -> bool:
        return not self.failed and len(self.seconds) == len(self.chunks)


def chunks(start: date, end: date, chunk_days: int) -> list[Chunk]:
    """[start, end] cut into consecutive runs of at most `chunk_days` days."""
    if chunk_days < 1:
        raise ValueError(f"--chunk-days must be at least 1, not {chunk_days}")
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    out, first = [], start
    while first <= end:
        last = min(first + timedelta(days=chunk_days - 1), end)
        out.append(Chunk(first, last))
        first = last + timedelta(days=1)
    return out


def backfill_selection(defs: dg.Definitions, domain: str) -> tuple[list[str], list[str]]:
    """(reference keys, daily keys): every daily, single-run asset of `domain` whose parents
    are daily or unpartitioned, and the unpartitioned assets those depend on, ancestors first.

    One domain at a time: each brings its own calendar, and one run holds one.
    Assets fed by another partitioning (daily scores of a weekly model) are left to
    their own schedule: a daily range says nothing about which weeks to train."""
    graph = defs.resolve_asset_graph()
    daily: set[dg.AssetKey] = set()
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not isinstance(node.partitions_def, dg.DailyPartitionsDefinition):
            continue
        if node.tags.get(DOMAIN_TAG) != domain:
            continue
        if node.backfill_policy != dg.BackfillPolicy.single_run():
            continue
        parents = [graph.get(p) for p in node.parent_keys]
        if all(p.partitions_def is None or p.key in daily for p in parents):
            daily.add(key)
    reference: set[dg.AssetKey] = set()
    frontier = [p for key in daily for p in graph.get(key).parent_keys]
    while frontier:
        key = frontier.pop()
        if graph.get(key).partitions_def is None and key not in reference:
            reference.add(key)
            frontier.extend(graph.get(key).parent_keys)
    order = [k for k in graph.toposorted_asset_keys if k in daily | reference]
    return (
        [k.to_user_string() for k in order if k in reference],
        [k.to_user_string() for k in order if k in daily],
    )


def run_slots(instance: dg.DagsterInstance) -> int | None:
    """How many runs of one zone the instance's run queue lets proceed at once (None: no limit)."""
    coordinator = instance.run_coordinator
    if not hasattr(coordinator, "get_run_queue_config"):
        return None
    queue = coordinator.get_run_queue_config()
    limits = [queue.max_concurrent_runs] if queue.max_concurrent_runs >= 0 else []
    for rule in queue.tag_concurrency_limits or []:
        if rule.get("key") == ZONE_TAG:
            limits.append(int(rule["limit"]))
    return min(limits) if limits else None


def _plan(module: str, domain: str) -> tuple[list[str], list[str], int | None]:
    from importlib import import_module

    try:
        defs = import_module(module).defs
    except (ImportError, AttributeError) as error:
        raise ValueError(f"--module {module}: not a code location with a `defs` object ({error})") from None
    reference, daily = backfill_selection(defs, domain)
    if not daily:
        raise ValueError(f"--domain {domain}: {module} has no daily assets of that domain")
    return reference, daily, run_slots(dg.DagsterInstance.get())


def _materialize_argv(module: str, keys: Sequence[str], chunk: Chunk | None) -> list[str]:
    dagster = str(Path(sys.executable).with_name("dagster"))
    argv = [dagster, "asset", "materialize", "-m", module, "--select", ",".join(f"key:{k}" for k in keys)]
    argv += ["--config-json", _QUIET]
    if chunk is not None:
        argv += ["--partition-range", str(chunk)]
    return argv


def _run(argv: list[str], log: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def run_backfill(
    start: date,
    end: date,
    chunk_days: int,
    workers: int,
    *,
    module: str = DEFAULT_MODULE,
    domain: str = DEFAULT_DOMAIN,
    logs: Path,
    reference: bool = True,
    run: Callable[[list[str], Path], int] = _run,
    say: Callable[[str], object] = print,
) -> BackfillReport:
    """Reference assets once, then every chunk as its own run, `workers` at a time."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}")

    # Planned in a short-lived process: the code location's import would otherwise stay
    # resident in this one for the whole backfill, beside the runs' own memory.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as planner:
        reference_keys, daily_keys, slots = planner.submit(_plan, module, domain).result()
    allowed = min(workers, slots) if slots else workers
    if allowed < workers:
        say(f"the instance's run queue allows {allowed} run(s) of a zone at once: using {allowed} worker(s)")
    plan = chunks(start, end, chunk_days)
    report = BackfillReport(plan, workers=allowed)
    if reference and reference_keys:
        if run(_materialize_argv(module, reference_keys, None), logs / "reference.log") != 0:
            report.failed[Chunk(start, start)] = logs / "reference.log"
            say(f"reference assets failed; see {logs / 'reference.log'}")
            return report
    lock = threading.Lock()
    stop = threading.Event()

    def one(chunk: Chunk) -> None:
        if stop.is_set():
            return
        log = logs / f"{chunk.start}_{chunk.end}.log"
        began = time.perf_counter()
        code = run(_materialize_argv(module, daily_keys, chunk), log)
        with lock:
            if code == 0:
                report.seconds[chunk] = time.perf_counter() - began
                say(f"{chunk} ({chunk.days} partitions) done in {report.seconds[chunk]:.1f} s "
                    f"[{len(report.seconds)}/{len(plan)}]")  # fmt: skip
            else:
                report.failed[chunk] = log
                stop.set()
                say(f"{chunk} failed (exit {code}); see {log}; no new chunks are started")

    with ThreadPoolExecutor(max_workers=allowed) as pool:
        pending: set[Future[None]] = {pool.submit(one, c) for c in plan}
        while pending:
            _, pending = wait(pending, return_when=FIRST_COMPLETED)
    return report


def cmd_backfill(args: argparse.Namespace) -> int:
    home = Path(os.environ.get("DAGSTER_HOME", ".dagster_home"))
    logs = args.logs or home / "backfill-logs" / time.strftime("%Y%m%dT%H%M%S")
    try:
        report = run_backfill(
            args.start, args.end, args.chunk_days, args.workers, module=args.module, domain=args.domain,
            logs=logs, reference=not args.skip_reference,
        )  # fmt: skip
    except ValueError as error:
        print(f"platform: {error}", file=sys.stderr)
        return 2
    total = sum(report.seconds.values())
    print(f"{len(report.seconds)} of {len(report.chunks)} chunk(s) done ({total:.1f} s of run time, "
          f"{report.workers} worker(s)); logs in {logs}")  # fmt: skip
    return 0 if report.ok else 1


def add_backfill_command(commands: argparse._SubParsersAction, day: Callable[[str], date]) -> None:
    backfill = commands.add_parser(
        "backfill", help="build a range of days as runs of at most --chunk-days partitions, --workers at once"
    )
    backfill.add_argument("--start", type=day, required=True, help="first day, YYYY-MM-DD")
    backfill.add_argument("--end", type=day, required=True, help="last day (inclusive)")
    backfill.add_argument("--chunk-days", type=int, default=31, help="partitions per run (default 31)")
    backfill.add_argument("--workers", type=int, default=1, help="runs at once (capped by the run queue)")
    backfill.add_argument(
        "--module", default=DEFAULT_MODULE, help="code location module (default: the platform)"
    )
    backfill.add_argument(
        "--domain",
        default=DEFAULT_DOMAIN,
        choices=domain_names(),
        help=f"whose days (default {DEFAULT_DOMAIN})",
    )
    backfill.add_argument("--skip-reference", action="store_true", help="do not rebuild the reference assets")
    backfill.add_argument("--logs", type=Path, help="folder for each run's log (default: under DAGSTER_HOME)")
    backfill.set_defaults(func=cmd_backfill)
