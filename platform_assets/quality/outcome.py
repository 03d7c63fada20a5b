"""One check's verdict on one partition, and how a run's verdicts become Dagster check results.

A step may write many partitions (single-run backfills) while Dagster records one
result per check per step, so each partition is judged, recorded and published on
its own, and the step's result summarises them: it fails when any partition fails,
and its metadata says which partitions and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from platform_assets.quality.config import SEVERITIES

ERROR = "ERROR"
WARN = "WARN"

META_PARTITION = "partition"
META_VERSION = "platform/version"
META_PUBLISHED = "platform/published"
META_PARTITIONS = "partitions_audited"
META_FAILED_PARTITIONS = "partitions_failed"
META_BY_PARTITION = "by_partition"
META_SAMPLE = "failure_sample"


@dataclass(frozen=True)
class Outcome:
    """A check's verdict on one version: JSON-safe metadata, plus sample rows shown as a table."""

    check: str
    passed: bool
    severity: str
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def blocks(self) -> bool:
        """Whether this verdict keeps the version from being published."""
        return not self.passed and self.severity == ERROR

    def record(self) -> dict[str, Any]:
        """What `_audit.json` keeps of it."""
        return {
            "passed": self.passed,
            "severity": self.severity,
            "description": self.description,
            "metadata": self.metadata,
            "failure_cases": self.sample,
        }


@dataclass(frozen=True)
class Judged:
    """An outcome with the partition and version it judged, and whether that version published."""

    partition: str | None
    version: str | None
    published: bool
    outcome: Outcome


def not_evaluated(check: str, why: str) -> Outcome:
    """A check that could not run (e.g. the file did not parse): shown failed, as a warning,
    because a green tick on data nobody looked at would be a lie; the contract check that
    could not be met already blocks."""
    return Outcome(check, False, WARN, f"not evaluated: {why}")


def _sample_table(rows: list[dict[str, Any]]) -> dg.TableMetadataValue:
    names = list(dict.fromkeys(name for row in rows for name in row))
    schema = dg.TableSchema(columns=[dg.TableColumn(name, "string") for name in names])
    records = [
        dg.TableRecord({n: None if row.get(n) is None else str(row.get(n)) for n in names}) for row in rows
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def _one(judged: Judged) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        META_PARTITION: judged.partition or "",
        META_VERSION: judged.version or "",
        META_PUBLISHED: judged.published,
    }
    for key, value in judged.outcome.metadata.items():
        metadata[key] = value if isinstance(value, int | float | str | bool) else dg.MetadataValue.json(value)
    if judged.outcome.sample:
        metadata[META_SAMPLE] = _sample_table(judged.outcome.sample)
    return metadata


def check_result(
    asset_key: dg.AssetKey, check: str, judged: Sequence[Judged], sample_rows: int
) -> dg.AssetCheckResult:
    """The step's result for one check over every partition it audited."""
    if len(judged) == 1:
        only = judged[0]
        return dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=check,
            passed=only.outcome.passed,
            severity=SEVERITIES[only.outcome.severity],
            description=only.outcome.description[:2000],
            metadata=_one(only),
        )
    failed = [j for j in judged if not j.outcome.passed]
    severity = ERROR if any(j.outcome.severity == ERROR for j in failed) else WARN
    sample = [{META_PARTITION: j.partition, **row} for j in failed for row in j.outcome.sample][:sample_rows]
    metadata: dict[str, Any] = {
        META_PARTITIONS: len(judged),
        META_FAILED_PARTITIONS: dg.MetadataValue.json([j.partition for j in failed]),
        META_BY_PARTITION: dg.MetadataValue.json(
            {
                str(j.partition): {
                    "passed": j.outcome.passed,
                    "severity": j.outcome.severity,
                    "published": j.published,
                    "version": j.version,
                    "description": j.outcome.description,
                    **j.outcome.metadata,
                }
                for j in judged
            }
        ),
    }
    if sample:
        metadata[META_SAMPLE] = _sample_table(sample)
    if failed:
        first = failed[0]
        description = f"{len(failed)} of {len(judged)} partitions failed; {first.partition}: "
        description += first.outcome.description
    else:
        description = f"all {len(judged)} partitions passed"
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check,
        passed=not failed,
        severity=SEVERITIES[severity],
        description=description[:2000],
        metadata=metadata,
    )


FAILURE_CASES_IN_MESSAGE = 5


def _cases(result: dg.AssetCheckResult, limit: int) -> list[str]:
    """The first failure cases a result's sample table shows, one `key=value` line each."""
    sample = (result.metadata or {}).get(META_SAMPLE)
    records = getattr(sample, "records", None) or []
    return [
        "    " + ", ".join(f"{k}={v}" for k, v in record.data.items() if v not in (None, ""))
        for record in records[:limit]
    ]


def blocking_failure(
    asset_key: dg.AssetKey,
    results: Sequence[dg.AssetCheckResult],
    blocking: set[str],
    limit: int = FAILURE_CASES_IN_MESSAGE,
) -> dg.Failure | None:
    """The step's failure when a blocking check failed at ERROR: which rule, and its first cases.

    Dagster's own message for a failed blocking check names only the check ("1 blocking
    asset check failed with ERROR severity: raw/<name>: contract"); the person paged
    then has to dig for `_audit.json`. Failing the step with this message instead puts
    the rule and its first failure cases in the run's failure and in the alert; the
    check results, already recorded, still stop downstream assets and are what
    automation reads."""
    failed = [
        r
        for r in results
        if not r.passed and r.severity == dg.AssetCheckSeverity.ERROR and r.check_name in blocking
    ]
    if not failed:
        return None
    name = asset_key.to_user_string()
    lines = [f"{name}: {len(failed)} blocking check(s) failed, nothing was published for what failed"]
    for result in failed:
        lines.append(f"  {result.check_name}: {result.description}")
        cases = _cases(result, limit)
        if cases:
            lines.append(f"  first failure cases of {result.check_name}:")
            lines.extend(cases)
    metadata = {"asset": name, "failed_checks": dg.MetadataValue.json([r.check_name for r in failed])}
    return dg.Failure(description="\n".join(lines), metadata=metadata)
