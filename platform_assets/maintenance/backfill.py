"""Chunked multi-run backfills: a long history as runs of at most N partitions each.

A single-run backfill of ten years holds ten years of every asset in one process;
runs of a bounded number of days keep memory flat whatever the range, and let the
runs proceed side by side. Each chunk is one run over its partition range, made by the
body of `dagster asset materialize` (recorded in the instance like any run), at most
`workers` at once, never more than the instance's run queue allows
(`max_concurrent_runs` and the `zone` tag limit of dagster.yaml): a backfill may not
take more run slots here than the daemon would give it. On Kubernetes the same
chunks are what Dagster's `BackfillPolicy.multi_run(max_partitions_per_run=N)`
would queue as separate run pods.

Each worker is a process that imports the code location once and makes its chunks'
runs one after another, each run's output in its own log file, so a chunk does not pay
the seconds a new `dagster` process spends importing Dagster and the location. What that
saves and what the workers' memory does over many runs is measured in
benchmarks/RESULTS.md (the closing note of the 2026-12-03 runs).

The reference (unpartitioned) ancestors of the daily assets are built first, once;
a chunk that fails stops new chunks from starting and names its log."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import import_module
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
    try:
        defs = import_module(module).defs
    except (ImportError, AttributeError) as error:
        raise ValueError(f"--module {module}: not a code location with a `defs` object ({error})") from None
    reference, daily = backfill_selection(defs, domain)
    if not daily:
        raise ValueError(f"--domain {domain}: {module} has no daily assets of that domain")
    return reference, daily, run_slots(dg.DagsterInstance.get())


def _materialize(module: str, keys: Sequence[str], chunk: Chunk | None, log: Path) -> int:
    """In a worker: one run of `keys` over `chunk` as `dagster asset materialize -m module
    --select ... --partition-range chunk` makes it, with what it prints in `log`. 0 on success."""
    from dagster._cli.asset import execute_materialize_command
    from dagster._cli.workspace.cli_target import PythonPointerOpts

    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    code = 1
    with log.open("wb") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)  # the platform's JSON log lines and Dagster's console log
        try:
            with dg.DagsterInstance.get() as instance:
                execute_materialize_command(
                    instance=instance,
                    select=",".join(f"key:{k}" for k in keys),
                    partition=None,
                    partition_range=None if chunk is None else str(chunk),
                    config=(),
                    config_json=_QUIET,
                    python_pointer_opts=PythonPointerOpts(
                        python_file=None,
                        module_name=module,
                        package_name=None,
                        working_directory=None,
                        attribute=None,
                    ),
                )
            code = 0
        except Exception:  # noqa: BLE001 - the run's failure is in its events; the log gets the traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    return code


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
    say: Callable[[str], object] = print,
) -> BackfillReport:
    """Reference assets once, then every chunk as its own run, `workers` at a time."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}")
    plan = chunks(start, end, chunk_days)
    # Spawned, not forked: a worker starts from a clean interpreter, imports the location
    # once and keeps it for its runs; this process never imports it (its memory stays small).
    # Workers start on demand, so no more than the run queue allows are ever started.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return _backfill(pool, plan, workers, module, domain, logs, reference, say)


def _backfill(
    pool: ProcessPoolExecutor,
    plan: list[Chunk],
    workers: int,
    module: str,
    domain: str,
    logs: Path,
    reference: bool,
    say: Callable[[str], object],
) -> BackfillReport:
    reference_keys, daily_keys, slots = pool.submit(_plan, module, domain).result()
    allowed = min(workers, slots) if slots else workers
    if allowed < workers:
        say(f"the instance's run queue allows {allowed} run(s) of a zone at once: using {allowed} worker(s)")
    report = BackfillReport(plan, workers=allowed)

    def materialize(keys: Sequence[str], chunk: Chunk | None, log: Path) -> int:
        try:
            return pool.submit(_materialize, module, keys, chunk, log).result()
        except BrokenProcessPool:  # the worker died (killed, out of memory): nothing more runs
            return -1

    if reference and reference_keys:
        if materialize(reference_keys, None, logs / "reference.log") != 0:
            report.failed[Chunk(plan[0].start, plan[0].start)] = logs / "reference.log"
            say(f"reference assets failed; see {logs / 'reference.log'}")
            return report
    lock = threading.Lock()
    stop = threading.Event()

    def one(chunk: Chunk) -> None:
        if stop.is_set():
            return
        log = logs / f"{chunk.start}_{chunk.end}.log"
        began = time.perf_counter()
        code = materialize(daily_keys, chunk, log)
        with lock:
            if code == 0:
                report.seconds[chunk] = time.perf_counter() - began
                say(f"{chunk} ({chunk.days} partitions) done in {report.seconds[chunk]:.1f} s "
                    f"[{len(report.seconds)}/{len(plan)}]")  # fmt: skip
            else:
                report.failed[chunk] = log
                stop.set()
                why = "its worker process died" if code < 0 else "the run failed"
                say(f"{chunk} failed ({why}); see {log}; no new chunks are started")

    with ThreadPoolExecutor(max_workers=allowed) as threads:
        pending: set[Future[None]] = {threads.submit(one, c) for c in plan}
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
