"""The landing sensor: a newly landed file becomes a run within one tick.

Files landed together are ingested together: one run per stretch of consecutive
days (all datasets of a day in the same run), up to `max_days_per_run`, plus one
run for the reference tables. A backlog of a month is then one run, not sixty. A
day's run carries on through curated and serving when their other parents are
already published (`landing_through`): one run per landed day, not one per zone.

Each run's key is derived from the paths and checksums of the files it ingests
(and the checksums they replace), so Dagster launches it at most once even if a
tick is retried after a crash: the content of a file is ingested exactly once, and
a corrected file is ingested again."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

import dagster as dg

from platform_assets import logs
from platform_assets.automation.conditions import RAW_ZONE, ZONE_TAG
from platform_assets.automation.config import AutomationConfigError, AutomationSettings
from platform_assets.automation.landing_rejects import reject
from platform_assets.automation.landing_scan import (
    MAX_STRAYS_REMEMBERED,
    LandedChange,
    LandingArea,
    LandingCursor,
    LandingDataset,
    ScanResult,
    scan_landing,
)
from platform_assets.automation.landing_through import THROUGH_ZONES_TAG, ZonePlan, through_zones
from platform_assets.lake.resources import LakeResource
from platform_assets.lake.storage import LakeStorage

LANDING_SENSOR_NAME = "landing_sensor"
TRIGGER_TAG = "platform/trigger"
LANDED_FILES_TAG = "platform/landed_files"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def run_key(changes: Sequence[LandedChange]) -> str:
    """A key that names exactly these file contents: same files, same bytes, same key."""
    digest = hashlib.sha256("\n".join(sorted(c.identity for c in changes)).encode()).hexdigest()
    days = sorted({c.partition for c in changes if c.partition})
    span = f"{days[0]}..{days[-1]}" if days else "reference"
    return f"landing:{span}:{digest[:24]}"


REFERENCE_JOB = "landing_reference"


def calendars(datasets: Sequence[LandingDataset]) -> list[tuple[str, list[LandingDataset]]]:
    """Datasets grouped by partitions definition, each group with the name of its raw job.

    Dagster runs only assets of one partitions definition together, and domains bring
    their own calendars (one year of days, four years of days, months): one job per
    calendar, named after its first dataset; reference tables (unpartitioned) get theirs."""
    groups: list[list[LandingDataset]] = []
    for dataset in sorted(datasets, key=lambda d: d.name):
        if dataset.partitions_def is None:
            continue
        group = next((g for g in groups if g[0].partitions_def == dataset.partitions_def), None)
        if group is None:
            groups.append([dataset])
        else:
            group.append(dataset)
    named = [(f"landing_{group[0].name}", group) for group in groups]
    reference = [d for d in datasets if d.partitions_def is None]
    return [(REFERENCE_JOB, reference)] * bool(reference) + named


def _request(changes: list[LandedChange], days: list[str], job_name: str | None) -> dg.RunRequest:
    keys = sorted({c.dataset.asset_key for c in changes}, key=lambda k: k.to_user_string())
    tags = {ZONE_TAG: RAW_ZONE, TRIGGER_TAG: "landing", LANDED_FILES_TAG: str(len(changes))}
    if len(days) > 1:
        tags.update({RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]})
    return dg.RunRequest(
        run_key=run_key(changes),
        asset_selection=keys,
        partition_key=days[0] if len(days) == 1 else None,
        tags=tags,
        job_name=job_name,
    )


def plan_runs(
    changes: Sequence[LandedChange],
    max_days_per_run: int,
    jobs: Sequence[tuple[str, list[LandingDataset]]] | None = None,
) -> list[dg.RunRequest]:
    """Group changes into runs: reference tables together, consecutive days together,
    one calendar (partitions definition) per run, named after its job in `jobs` (the
    sensor's `calendars` of every landing dataset, whichever of them changed).

    Days join a stretch only when the same raw assets changed on them, because a
    range run materializes every selected asset for every day of the range."""
    changed = list({c.dataset.asset_key: c.dataset for c in changes}.values())
    requests = []
    for job, datasets in jobs if jobs is not None else calendars(changed):
        keys = {d.asset_key for d in datasets}
        mine = [c for c in changes if c.dataset.asset_key in keys]
        if mine:
            requests += _plan_calendar(mine, max_days_per_run, job if jobs is not None else None)
    return requests


def _plan_calendar(
    changes: Sequence[LandedChange], max_days_per_run: int, job_name: str | None
) -> list[dg.RunRequest]:
    requests = []
    reference = [c for c in changes if c.partition is None]
    if reference:
        requests.append(_request(reference, [], job_name))
    by_day: dict[str, list[LandedChange]] = defaultdict(list)
    for change in changes:
        if change.partition is not None:
            by_day[change.partition].append(change)
    stretch: list[str] = []

    def assets(day: str) -> frozenset[dg.AssetKey]:
        return frozenset(c.dataset.asset_key for c in by_day[day])

    for day in sorted(by_day):
        if stretch and (
            date.fromisoformat(day) - date.fromisoformat(stretch[-1]) != timedelta(days=1)
            or assets(day) != assets(stretch[0])
            or len(stretch) >= max_days_per_run
        ):
            requests.append(_request([c for d in stretch for c in by_day[d]], stretch, job_name))
            stretch = []
        stretch.append(day)
    if stretch:
        requests.append(_request([c for d in stretch for c in by_day[d]], stretch, job_name))
    return requests


def _handle_rejections(
    context: dg.SensorEvaluationContext,
    storage: LakeStorage,
    scan: ScanResult,
    cursor: LandingCursor,
    settings: AutomationSettings,
) -> None:
    """Alert once about newly rejected entries, then move each to `landing/_rejected/`.

    The alert goes first: if it cannot be delivered the tick fails with nothing moved,
    and the next tick finds the same entries and tries again (at least once). An entry
    that could not be moved is remembered in the cursor so it is not alerted again."""
    from platform_assets.automation.alerts import landing_rejected_payload, send_alert

    alerted = {path for paths in cursor.unmovable.values() for path in paths}
    fresh = [r for r in scan.rejected if r.path not in alerted]
    if not fresh:
        return
    for rejection in fresh[:20]:
        context.log.warning(f"rejecting {rejection.path}: {rejection.reason}")
    send_alert(landing_rejected_payload(fresh), settings)
    for rejection in fresh:
        done = reject(storage, rejection)
        if not done.moved:
            stuck = scan.cursor.unmovable.setdefault(rejection.dataset, [])
            stuck[:] = [*stuck, rejection.path][-MAX_STRAYS_REMEMBERED:]


def per_zone_identities(env: str) -> bool:
    """Whether each zone's runs act as that zone's writer (staging and prod by default).

    A run then writes one zone only (`governance.identity.run_identity` refuses a run
    over several), so a landed day is not carried through the zones in its own run
    (`landing_through`): the automation sensors build curated and serving in runs of
    their own, each with its own least-privileged identity."""
    from platform_assets.governance.config import GovernanceSettings

    return bool(GovernanceSettings.load(env).identity_profile)


def build_landing_sensor(
    datasets: Sequence[LandingDataset], settings: AutomationSettings, plan: ZonePlan | None = None
) -> dg.SensorDefinition:
    """The sensor over the given landing datasets, on by default: one job per calendar.

    With a `plan` (and `[landing] through_zones`), a day's run also builds the curated and
    serving assets of the same calendar the landed files feed (see `landing_through`)."""
    plan = plan if plan is not None and settings.through_zones else ZonePlan((), {}, {})

    def downstream(group: Sequence[LandingDataset]) -> list[dg.AssetKey]:
        calendar = group[0].partitions_def
        return [k for k in plan.order if calendar is not None and plan.partitions[k] == calendar]

    job_plan = calendars(datasets)
    jobs = [
        dg.define_asset_job(
            name, selection=dg.AssetSelection.assets(*[d.asset_key for d in group], *downstream(group))
        )
        for name, group in job_plan
    ]
    unknown = sorted(set(settings.dataset_completion) - {d.name for d in datasets})
    if unknown:
        raise AutomationConfigError(
            f"automation.toml [landing.datasets] names {', '.join(unknown)}, which no raw asset lands "
            f"(landing datasets: {', '.join(d.name for d in datasets)})"
        )

    @dg.sensor(
        name=LANDING_SENSOR_NAME,
        jobs=jobs,
        minimum_interval_seconds=settings.landing_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Requests the raw-zone run for every newly landed or corrected complete file under "
            "landing/, once per file content; moves what it cannot accept to landing/_rejected/."
        ),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        storage = lake.storage()
        area = LandingArea(storage, lake.settings())
        cursor = LandingCursor.parse(context.cursor)
        scan = scan_landing(area, datasets, cursor, settings)
        requests = plan_runs(scan.changes, settings.max_days_per_run, job_plan)
        if plan.order and requests and not per_zone_identities(lake.settings().env):
            requests = through_zones(requests, plan, lake.versions())
        _handle_rejections(context, storage, scan, cursor, settings)
        if scan.pending:
            logs.emit(
                "landing_pending",
                files=[{"path": p.path, "reason": p.reason} for p in scan.pending[:50]],
                count=len(scan.pending),
            )
        for request in requests:
            logs.emit(
                "landing_run_requested",
                run_key=request.run_key,
                assets=[k.to_user_string() for k in request.asset_selection or []],
                partition=request.partition_key,
                partition_range=[request.tags.get(RANGE_START_TAG), request.tags.get(RANGE_END_TAG)]
                if RANGE_START_TAG in request.tags
                else None,
                files=int(request.tags[LANDED_FILES_TAG]),
                through_zones=request.tags.get(THROUGH_ZONES_TAG),
            )
        if not requests:
            waiting = f"; {len(scan.pending)} pending: " + ", ".join(
                f"{p.path} ({p.reason})" for p in scan.pending[:5]
            )
            skip = "nothing new has landed" + (waiting if scan.pending else "")
            return dg.SensorResult(skip_reason=skip, cursor=scan.cursor.dumps())
        return dg.SensorResult(run_requests=requests, cursor=scan.cursor.dumps())

    return landing_sensor
