"""The daily garbage collection job: on by default in staging and prod, off in dev.

In dev the lake is a developer's scratch folder and deleting from it on a timer would
surprise; `platform gc` does the same on demand there."""

# No `from __future__ import annotations`: Dagster reads the op's `context` annotation.
import dagster as dg

from platform_assets.lake.resources import LakeResource
from platform_assets.maintenance import gc

GC_JOB = "lake_gc"
GC_SCHEDULE = "lake_gc_daily"
# After the night's landings and rebuilds, before the working day.
GC_CRON = "30 4 * * *"
SCHEDULED_ENVIRONMENTS = ("staging", "prod")


@dg.op(description="Delete what retention allows (retention.toml), re-checking each item at deletion.")
def collect_garbage(context: dg.OpExecutionContext, lake: LakeResource) -> dg.Output[None]:
    report = gc.collect(lake.storage(), apply=True)
    for candidate, why in report.skipped:
        context.log.info(f"kept {candidate.path}: {why} at deletion time")
    context.log.info(
        f"gc deleted {len(report.deleted)} item(s), {report.bytes_reclaimed} bytes, in {report.seconds:.1f}s"
    )
    # The report is metadata, not data: no value reaches the lake's IO manager.
    return dg.Output(
        None,
        metadata={
            "bytes_reclaimed": report.bytes_reclaimed,
            "deleted": len(report.deleted),
            "kept_at_deletion": len(report.skipped),
            "by_kind": dg.MetadataValue.json(report.by_kind()),
            "seconds": round(report.seconds, 3),
        },
    )


@dg.job(name=GC_JOB, tags={"zone": "operator"}, description="Retention: garbage-collect the lake.")
def lake_gc() -> None:
    collect_garbage()


def gc_schedule(env: str) -> dg.ScheduleDefinition:
    """The daily schedule, running from the start outside dev."""
    status = (
        dg.DefaultScheduleStatus.RUNNING
        if env in SCHEDULED_ENVIRONMENTS
        else dg.DefaultScheduleStatus.STOPPED
    )
    return dg.ScheduleDefinition(
        name=GC_SCHEDULE, job=lake_gc, cron_schedule=GC_CRON, execution_timezone="UTC", default_status=status
    )
