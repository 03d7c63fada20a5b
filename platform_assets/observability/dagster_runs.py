"""Run and step durations and outcomes, read from the Dagster instance.

The instance is the record of every run, so the exporter derives its counters and
histograms from it rather than counting events it happened to see: a restarted
exporter reports the same totals. Each scrape asks only for runs updated since the
newest update it has already seen, and reads a finished run's step events once."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg

from platform_assets.lake import layout

ZONE_TAG = "zone"
MIXED_ZONES = "mixed"
AUDIT_STEP_PREFIX = "audit_"
RUN_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
STEP_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
_FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
_STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
}
# A run updated while the previous reading ran is asked for again.
_OVERLAP = timedelta(seconds=5)
# How far back a starting exporter folds runs in: enough for the alert and dashboard windows
# (7 days at most), without reading the step events of every run a long-lived instance holds.
LOOKBACK = timedelta(days=8)


@dataclass
class Histogram:
    """Cumulative bucket counts, as Prometheus exposes them."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    observations: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.observations += 1

    def buckets(self) -> list[tuple[str, int]]:
        cumulative, out = 0, []
        for bound, count in zip([*map(str, self.bounds), "+Inf"], self.counts, strict=True):
            cumulative += count
            out.append((bound, cumulative))
        return out


@dataclass(frozen=True)
class LastStep:
    run_id: str
    status: str
    seconds: float
    finished_at: float


@dataclass(frozen=True)
class LastRun:
    run_id: str
    status: str
    seconds: float
    finished_at: float


def step_asset(step_key: str) -> tuple[str, str, str]:
    """(zone, asset, kind) from a step key: `curated__<name>` writes curated/<name>,
    `audit_curated__<name>` audits it; other steps keep their key as the asset."""
    kind = "write"
    if step_key.startswith(AUDIT_STEP_PREFIX):
        kind, step_key = "audit", step_key[len(AUDIT_STEP_PREFIX) :]
    parts = step_key.split("__")
    if len(parts) == 2 and parts[0] in layout.ASSET_ZONES:
        return parts[0], parts[1], kind
    return "other", step_key, kind


def run_zone(run: dg.DagsterRun) -> str:
    """The zone a run belongs to: its `zone` tag (set by every sensor), else the one zone its
    assets share, else `mixed` (a hand-launched run across zones)."""
    tagged = run.tags.get(ZONE_TAG)
    if tagged:
        return tagged
    zones = {key.path[0] for key in (run.asset_selection or ()) if key.path}
    return zones.pop() if len(zones) == 1 else MIXED_ZONES


class RunHistory:
    """Finished runs and steps folded into counters and histograms, incrementally."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self._seen: set[str] = set()
        self._since: datetime | None = None
        self.runs: dict[tuple[str, str], int] = defaultdict(int)  # (zone, status) -> count
        self.run_seconds: dict[tuple[str, str], Histogram] = {}
        self.steps: dict[tuple[str, str, str, str], int] = defaultdict(int)  # zone, asset, kind, status
        self.step_seconds: dict[tuple[str, str, str, str], Histogram] = {}
        self.last_run: dict[str, LastRun] = {}  # zone ->
        self.last_step: dict[tuple[str, str, str], LastStep] = {}  # (zone, asset, kind) ->
        self.in_flight: dict[tuple[str, str], int] = {}  # (zone, status) for queued/started

    def refresh(self) -> None:
        since = self._since - _OVERLAP if self._since else datetime.now(UTC) - LOOKBACK
        filters = dg.RunsFilter(updated_after=since)
        records = self.instance.get_run_records(filters=filters, order_by="update_timestamp", ascending=True)
        for record in records:
            self._since = max(self._since or record.update_timestamp, record.update_timestamp)
            run = record.dagster_run
            if run.status in _FINISHED and run.run_id not in self._seen:
                self._seen.add(run.run_id)
                self._fold(record)
        self._count_in_flight()

    def _count_in_flight(self) -> None:
        counts: dict[tuple[str, str], int] = defaultdict(int)
        waiting = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
        for record in self.instance.get_run_records(filters=dg.RunsFilter(statuses=waiting)):
            counts[(run_zone(record.dagster_run), record.dagster_run.status.value)] += 1
        self.in_flight = dict(counts)

    def _fold(self, record: dg.RunRecord) -> None:
        run = record.dagster_run
        zone, status = run_zone(run), run.status.value
        self.runs[(zone, status)] += 1
        if record.start_time and record.end_time:
            seconds = max(0.0, record.end_time - record.start_time)
            self.run_seconds.setdefault((zone, status), Histogram(RUN_BUCKETS)).observe(seconds)
            previous = self.last_run.get(zone)
            if previous is None or record.end_time >= previous.finished_at:
                self.last_run[zone] = LastRun(run.run_id, status, seconds, record.end_time)
        self._fold_steps(run.run_id)

    def _fold_steps(self, run_id: str) -> None:
        started: dict[str, float] = {}
        records = self.instance.get_records_for_run(run_id, of_type=_STEP_EVENTS, limit=10_000).records
        for event_record in records:
            entry = event_record.event_log_entry
            event = entry.dagster_event
            if event is None or entry.step_key is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                started[entry.step_key] = entry.timestamp
                continue
            begin = started.get(entry.step_key)
            if begin is None:
                continue
            zone, asset, kind = step_asset(entry.step_key)
            status = "SUCCESS" if event.event_type == dg.DagsterEventType.STEP_SUCCESS else "FAILURE"
            seconds = max(0.0, entry.timestamp - begin)
            self.steps[(zone, asset, kind, status)] += 1
            key = (zone, asset, kind, status)
            self.step_seconds.setdefault(key, Histogram(STEP_BUCKETS)).observe(seconds)
            previous = self.last_step.get((zone, asset, kind))
            if previous is None or entry.timestamp >= previous.finished_at:
                self.last_step[(zone, asset, kind)] = LastStep(run_id, status, seconds, entry.timestamp)


def utc_now() -> float:
    return datetime.now(UTC).timestamp()
