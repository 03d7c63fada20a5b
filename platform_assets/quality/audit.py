"""Write, audit, publish: contracts become blocking asset checks that publish what passes.

An asset with a contract writes its versions unpublished (the IO manager sees
`platform/publish: after_audit` on it). One generated multi-check per asset then,
for every partition the run wrote, oldest first:

  1. reads the version this run wrote (readers still see the previous one),
  2. judges it: the contract, the rejected share, history, referential integrity,
  3. records the verdict and failure cases in `_audit.json` beside the manifest,
  4. publishes it (one compare-and-swap of the pointer) only when no ERROR-severity
     check failed, and records the publish on the check result (the contract check's
     metadata names each partition's version, whether it was published, when, and
     what it replaced), so the UI says what happened to a "pending audit" version
     without one more stored event per partition.

A failed partition keeps its previous published version; Dagster's blocking checks
stop downstream assets in the run. Partitions of a single-run backfill are judged
and published one by one, so a bad day does not hold back good ones, and each day
is compared with history that already includes the days published before it.

A run that executes only the checks (no new version) re-audits the published
version: it reports, and never re-points readers."""

# No `from __future__ import annotations` here: Dagster reads the check function's
# `context` annotation at decoration time and refuses it as a string.
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from platform_assets.governance import classification
from platform_assets.lake import layout
from platform_assets.lake.history import audit_status, record_audit
from platform_assets.lake.io_manager import (
    META_STATUS,
    PUBLISH_AFTER_AUDIT,
    PUBLISH_POLICY_KEY,
    STATUS_PUBLISHED,
    take_held,
)
from platform_assets.lake.storage import LakeIntegrityError
from platform_assets.lake.versions import KIND_FILE, StalePublishError, VersionStore
from platform_assets.logs import emit
from platform_assets.quality import history as hist
from platform_assets.quality.config import asset_config, unknown_assets
from platform_assets.quality.contracts import (
    Contract,
    ContractReport,
    canonical_frame,
    canonical_frames,
    check_frames,
    contract_metadata,
)
from platform_assets.quality.integrity import CHECK_REFERENCES, Relation, check_references_many
from platform_assets.quality.landed import LandedFileError, hold_parsed, read_landed_csvs
from platform_assets.quality.outcome import (
    ERROR,
    Judged,
    Outcome,
    blocking_failure,
    check_result,
    not_evaluated,
)

CHECK_CONTRACT = "contract"
CHECK_REJECTED_SHARE = "rejected_share"
HISTORY_CHECKS = (hist.CHECK_ROW_VOLUME, hist.CHECK_DAY_OVER_DAY, hist.CHECK_NULL_RATE, hist.CHECK_SHIFT)
CHECK_DESCRIPTIONS = {
    CHECK_CONTRACT: "Every rule of the asset's pandera contract: types, nullability, ranges, allowed values, "
    "unique keys and cross-column rules. Failure cases in metadata.",
    CHECK_REJECTED_SHARE: "Rows sent to quarantine stay under the configured share of the partition.",
    hist.CHECK_ROW_VOLUME: "Rows against the median of the same weekday in recent weeks.",
    hist.CHECK_DAY_OVER_DAY: "Rows against the previous day's published version.",
    hist.CHECK_NULL_RATE: "Null rate per column against its trailing median.",
    hist.CHECK_SHIFT: "Mean and quantiles of numeric columns against the trailing window.",
    CHECK_REFERENCES: "Codes found in the reference tables; unmatched codes are reported, never dropped.",
}
HISTORY_EVALUATORS = {
    hist.CHECK_ROW_VOLUME: (hist.row_volume, "row_volume"),
    hist.CHECK_DAY_OVER_DAY: (hist.day_over_day, "day_over_day"),
    hist.CHECK_NULL_RATE: (hist.null_rates, "null_rate"),
    hist.CHECK_SHIFT: (hist.distribution_shift, "shift"),
}


# Contract-check metadata of a version the audit published (beside its version and `published`).
META_PUBLISHED_AT = "platform/published_at"
META_PREVIOUS_VERSION = "platform/previous_version"
# Field of `_audit.json` holding the version's history profile.
PROFILE_FIELD = "profile"
# Definition metadata: the asset keeps rejected rows in the quarantine zone.
SCREENED_KEY = "platform/screened"


@dataclass(frozen=True)
class AuditSpec:
    """How one asset is audited; the domain declares these, the platform builds the checks."""

    asset_key: tuple[str, ...]
    contract: Contract
    # Stored as landed CSV files byte for byte, and read against the contract to audit.
    landed_csv: bool = False
    screened: bool = False  # the asset quarantines rows (returns `Screened`)
    history: bool = False  # an event asset: volume, null-rate and shift checks
    relations: tuple[Relation, ...] = ()

    @property
    def name(self) -> str:
        return "/".join(self.asset_key)

    def check_names(self, config: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
        """The checks this asset gets; a shift check only where `config` names columns to watch."""
        names = [CHECK_CONTRACT]
        names += [CHECK_REJECTED_SHARE] if self.screened else []
        if self.history:
            watches_shift = config is None or bool(config["shift"]["columns"])
            names += [n for n in HISTORY_CHECKS if n != hist.CHECK_SHIFT or watches_shift]
        names += [CHECK_REFERENCES] if self.relations else []
        return names


def attach_contracts(
    assets: Sequence[dg.AssetsDefinition], audits: Sequence[AuditSpec]
) -> list[dg.AssetsDefinition]:
    """Give every audited asset its contract's column schema and the publish-after-audit policy."""
    by_key = {dg.AssetKey(list(a.asset_key)): a for a in audits}

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        audit = by_key.get(spec.key)
        if audit is None:
            return spec
        return spec.merge_attributes(
            metadata={
                **contract_metadata(audit.contract),
                PUBLISH_POLICY_KEY: PUBLISH_AFTER_AUDIT,
                SCREENED_KEY: audit.screened,  # governance.iam grants its quarantine prefix
            },
            tags=classification.definition_tags(audit.contract),
        )

    return list(dg.map_asset_specs(attach, list(assets)))


def audit_checks(
    assets: Sequence[dg.AssetsDefinition], audits: Sequence[AuditSpec], domain_quality: Mapping[str, Any]
) -> list[dg.AssetChecksDefinition]:
    """One blocking multi-check per audited asset, configured from quality.toml and the domain."""
    unknown = unknown_assets(domain_quality, {a.name for a in audits})
    if unknown:
        raise ValueError(f"quality config names assets that are not audited: {unknown}")
    partitioned = {key: a.partitions_def is not None for a in assets for key in a.keys}
    checks = []
    for audit in audits:
        key = dg.AssetKey(list(audit.asset_key))
        if audit.history and not partitioned[key]:
            raise ValueError(f"{audit.name}: history checks need a partitioned asset")
        checks.append(_audit_check(audit, partitioned[key], asset_config(domain_quality, audit.name)))
    return checks


def _blocks(name: str, config: Mapping[str, Mapping[str, Any]]) -> bool:
    """Only checks configured as ERROR are declared blocking.

    Declarative automation cannot see a result's severity: any failed blocking check
    holds children back, so a WARN-level check declared blocking would stop serving
    from being rebuilt on a day that merely looks unusual. Referential integrity never
    blocks (see integrity.py)."""
    if name == CHECK_REFERENCES:
        return False
    section = HISTORY_EVALUATORS[name][1] if name in HISTORY_EVALUATORS else None
    return section is None or str(config[section]["severity"]).upper() == "ERROR"


def _audit_check(
    audit: AuditSpec, partitioned: bool, config: dict[str, dict[str, Any]]
) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(list(audit.asset_key))
    references = sorted({dg.AssetKey(list(r.reference)) for r in audit.relations}, key=str)
    specs = [
        dg.AssetCheckSpec(
            name,
            asset=key,
            blocking=_blocks(name, config),
            description=CHECK_DESCRIPTIONS[name],
            additional_deps=references if name == CHECK_REFERENCES else None,
        )
        for name in audit.check_names(config)
    ]

    @dg.multi_asset_check(
        specs=specs,
        name=f"audit_{key.to_python_identifier()}",
        required_resource_keys={"lake"},
        description=f"Audits each new version of {audit.name} and publishes it when no blocking check fails.",
    )
    def _audit(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        op = context.op_execution_context
        store = context.resources.lake.versions()
        auditor = Auditor(store, audit, config, op.run_id)
        results = list(auditor.run(op.partition_keys if partitioned else [None], key))
        yield from results
        failure = blocking_failure(key, results, {spec.name for spec in specs if spec.blocking})
        if failure is not None:
            raise failure

    return _audit


def _with_publish(outcome: Outcome, pointer: Mapping[str, Any]) -> Outcome:
    """The contract verdict on a version this audit published, with when and what it replaced."""
    metadata = {
        **outcome.metadata,
        META_STATUS: STATUS_PUBLISHED,
        META_PUBLISHED_AT: pointer["published_at"],
        META_PREVIOUS_VERSION: pointer.get("previous_version") or "",
    }
    return Outcome(
        outcome.check, outcome.passed, outcome.severity, outcome.description, metadata, outcome.sample
    )


def _superseded(outcome: Outcome, published: str) -> Outcome:
    """The verdict on a version that passed but was not published because a newer one was."""
    metadata = {**outcome.metadata, "superseded_by": published}
    return Outcome(
        outcome.check, outcome.passed, outcome.severity, outcome.description, metadata, outcome.sample
    )


def _file_failure(error: LandedFileError) -> ContractReport:
    if error.report is not None:
        return error.report
    cases = pd.DataFrame([{"rule": error.rule, "column": None, "row": None, "value": str(error)}])
    return ContractReport(cases)


class Auditor:
    """Judges and publishes the versions one run wrote for one asset."""

    def __init__(self, store: VersionStore, audit: AuditSpec, config: dict[str, dict[str, Any]], run_id: str):
        self.store = store
        self.audit = audit
        self.config = config
        self.run_id = run_id
        self.sample_rows = int(config["audit"]["sample_rows"])
        self.names = audit.check_names(config)
        self._profiles: dict[str, hist.Profile | None] = {}
        self._computed: dict[str, hist.Profile] = {}  # this run's versions, profiled together
        self._references: dict[str | None, Outcome] = {}  # this run's versions, looked up together
        self._partitions: set[str] | None = None
        self._reference_keys: dict[tuple[tuple[str, ...], str], set[str] | None] = {}

    def run(self, partitions: Sequence[str | None], asset_key: dg.AssetKey) -> Iterator[dg.AssetCheckResult]:
        ordered = sorted(partitions, key=lambda p: p or "")
        targets = {p: self._target(p) for p in ordered}
        contracts = self._contracts({p: m for p, (m, _) in targets.items() if m is not None})
        if self.audit.history:  # every version's profile in one grouped pass, before judging day by day
            frames = {p: frame for p, (frame, _) in contracts.items() if p is not None and frame is not None}
            self._computed = hist.profile_frames(frames, self.config)
        if self.audit.relations:  # every version's references in one lookup per relation
            frames = {p: frame for p, (frame, _) in contracts.items() if frame is not None}
            self._references = check_references_many(frames, self.audit.relations, self._keys)
        judged: dict[str, list[Judged]] = defaultdict(list)
        with self.store.index_batch():  # the publish index written once per month, not per day
            for partition in ordered:  # oldest first: each day's history includes the days before it
                manifest, pending = targets[partition]
                for one in self.audit_partition(partition, manifest, pending, contracts.get(partition)):
                    judged[one.outcome.check].append(one)
        for name in self.names:
            yield check_result(asset_key, name, judged[name], self.sample_rows)

    def _target(self, partition: str | None) -> tuple[dict[str, Any] | None, bool]:
        """(manifest, pending): the newest version this run wrote, else the published one."""
        published = self.store.published_version(self.audit.asset_key, partition)
        written = self.store.written_by(self.audit.asset_key, partition, self.run_id)
        if written is not None:
            return written, written["version"] != published
        if published is None:
            return None, False
        return self.store.manifest(self.audit.asset_key, partition, published), False

    def audit_partition(
        self,
        partition: str | None,
        manifest: dict[str, Any] | None,
        pending: bool,
        contract: tuple[pd.DataFrame | None, Outcome] | None,
    ) -> list[Judged]:
        """Judge one version, record the verdict beside it, publish it if nothing blocks."""
        if manifest is None or contract is None:
            outcomes = [not_evaluated(n, "no version to audit") for n in self.names]
            return [Judged(partition, None, False, o) for o in outcomes]
        outcomes, profile = self._evaluate(partition, manifest, *contract)
        passed = not any(o.blocks for o in outcomes)
        version = manifest["version"]
        key = self.audit.asset_key
        if pending:
            checks = {o.check: o.record() for o in outcomes}
            extra = {PROFILE_FIELD: hist.profile_record(profile, self.config)} if profile else None
            record_audit(
                self.store,
                key,
                partition,
                version,
                passed=passed,
                checks=checks,
                extra=extra,
                manifest=manifest,
            )
            if passed:
                summary = {
                    "audit": "passed",
                    "warnings": [o.check for o in outcomes if not o.passed],
                    "audited_in_run": self.run_id,
                }
                try:
                    pointer = self.store.publish(
                        key, partition, version, actor=f"run:{self.run_id}", checks=summary
                    )
                    outcomes = [
                        _with_publish(o, pointer) if o.check == CHECK_CONTRACT else o for o in outcomes
                    ]
                except StalePublishError as error:
                    # A later run of this partition published first: its version stays.
                    emit("publish_skipped", asset="/".join(key), partition=partition, reason=str(error))
                    outcomes = [_superseded(o, error.published) for o in outcomes]
                    return [Judged(partition, version, False, o) for o in outcomes]
        is_published = passed or not pending
        if partition is not None and is_published and profile is not None:
            self._profiles[partition] = profile  # later days of a backfill compare with it
        return [Judged(partition, version, is_published, o) for o in outcomes]

    def _evaluate(
        self, partition: str | None, manifest: dict[str, Any], frame: pd.DataFrame | None, contract: Outcome
    ) -> tuple[list[Outcome], hist.Profile | None]:
        outcomes = [contract]
        if self.audit.screened:
            outcomes.append(self._rejected_share(manifest))
        profile = None
        if self.audit.history and partition is not None:
            if frame is None:
                history = [n for n in HISTORY_CHECKS if n in self.names]
                outcomes += [not_evaluated(n, "the version did not parse") for n in history]
            else:
                profile = self._computed.get(partition) or hist.profile_frame(frame, self.config)
                day = date.fromisoformat(partition)
                for name in (n for n in HISTORY_CHECKS if n in self.names):
                    evaluate, section = HISTORY_EVALUATORS[name]
                    outcomes.append(evaluate(day, profile, self._profile, self.config[section]))
        if self.audit.relations:
            if frame is None:
                outcomes.append(not_evaluated(CHECK_REFERENCES, "the version did not parse"))
            else:
                outcomes.append(self._references[partition])  # every parsed version, from `run`
        return outcomes, profile

    def _contracts(
        self, manifests: dict[str | None, dict[str, Any]]
    ) -> dict[str | None, tuple[pd.DataFrame | None, Outcome]]:
        """Every version read and validated in one pass (see `check_frames`): the frame a
        version holds (None when it could not be read) and the contract's verdict on it."""
        frames: dict[str | None, pd.DataFrame] = {}
        failures: dict[str | None, tuple[ContractReport, str]] = {}
        if self.audit.landed_csv:
            raws = {p: self._held(m, self.store.read_file) for p, m in manifests.items()}
            files = {p: (raw.data, raw.source_uri or raw.name) for p, raw in raws.items()}
            landed = read_landed_csvs(files, self.audit.contract)
            hold_parsed(self.run_id, files, self.audit.contract, landed)  # the curated step reads them next
            for partition, parsed in landed.items():
                if isinstance(parsed, LandedFileError):
                    failures[partition] = (_file_failure(parsed), str(parsed))
                else:
                    frames[partition] = parsed
            reports = {p: ContractReport.empty() for p in frames}
        else:
            frames = canonical_frames({p: self._held(m, self.store.read_table) for p, m in manifests.items()})
            reports = {p: report for p, (_, report) in check_frames(self.audit.contract, frames).items()}
        out = {}
        for partition, manifest in manifests.items():
            report, problem = failures.get(partition, (reports.get(partition), ""))
            out[partition] = self._contract_outcome(manifest, frames.get(partition), report, problem)
        return out

    def _held(self, manifest: dict[str, Any], read: Callable[[dict[str, Any]], Any]) -> Any:
        """The data this run wrote as `manifest`'s version if the run still holds it in
        memory, else `read` of it from the lake.

        It is what the step handed the IO manager, byte for byte what the version's files
        hold (their hashes were computed from it), so judging it instead of reading the
        files back changes no verdict; a version another run wrote is always read."""
        held = None
        if manifest.get("run_id") == self.run_id:
            held = take_held(self.run_id, manifest["asset_key"], manifest["partition"], manifest["version"])
        return read(manifest) if held is None else held

    def _contract_outcome(
        self, manifest: dict[str, Any], frame: pd.DataFrame | None, report: ContractReport, problem: str
    ) -> tuple[pd.DataFrame | None, Outcome]:
        metadata: dict[str, Any] = {"version_uri": manifest["uri"]}
        if manifest["kind"] == KIND_FILE:
            metadata["file"] = manifest.get("source_uri", "")
        metadata.update(
            rows=0 if frame is None else len(frame),
            failure_cases=report.failure_count,
            failing_rows=report.failing_rows(),
            failed_rules=report.failed_rules(),
        )
        if report.passed:
            description = f"every rule of {self.audit.contract.__name__} holds on {metadata['rows']} rows"
        else:
            description = problem or report.describe()
        sample = report.sample(self.sample_rows)
        return frame, Outcome(CHECK_CONTRACT, report.passed, ERROR, description, metadata, sample)

    def _rejected_share(self, manifest: dict[str, Any]) -> Outcome:
        quarantine = manifest.get("quarantine") or {}
        offered = int(quarantine.get("offered", manifest.get("row_count", 0)))
        rejected = int(quarantine.get("rejected", 0))
        share = rejected / offered if offered else 0.0
        limit = float(self.config["quarantine"]["max_rejected_share"])
        metadata = {
            "offered_rows": offered,
            "rejected_rows": rejected,
            "rejected_share": round(share, 6),
            "max_rejected_share": limit,
            "by_reason": quarantine.get("by_reason", {}),
            "quarantine_uri": quarantine.get("uri") or "",
        }
        reasons = ", ".join(f"{r} ({n})" for r, n in sorted(quarantine.get("by_reason", {}).items()))
        description = f"{rejected} of {offered} rows quarantined ({share:.2%}; allowed {limit:.2%})"
        description += f": {reasons}" if reasons else ""
        sample = [{"reason": r, "rows": n} for r, n in sorted(quarantine.get("by_reason", {}).items())]
        return Outcome(CHECK_REJECTED_SHARE, share <= limit, ERROR, description, metadata, sample)

    def _profile(self, day: date) -> hist.Profile | None:
        """The profile of a day's published version (cached for the run), None if unpublished."""
        partition = day.isoformat()
        if self._partitions is None:  # one listing instead of a miss per day never written
            self._partitions = set(self.store.partitions(self.audit.asset_key))
        if partition not in self._partitions:
            return self._profiles.get(partition)
        if partition not in self._profiles:
            key = self.audit.asset_key
            profile = None
            try:
                version = self.store.published_version(key, partition)
            except LakeIntegrityError as error:
                # One corrupt day must not stop other days' audits: it is history we lack.
                emit("history_unreadable", asset="/".join(key), partition=partition, error=str(error))
                version = None
            if version is not None:
                # The profile its own audit stored: one small read instead of the whole version.
                record = audit_status(self.store.storage, layout.version_path(key, partition, version))
                profile = hist.profile_from_record((record or {}).get(PROFILE_FIELD), self.config)
                if profile is None:  # audited before profiles were stored, or under other settings
                    manifest = self.store.manifest(key, partition, version)
                    frame = canonical_frame(self.store.read_table(manifest))
                    profile = hist.profile_frame(frame, self.config)
            self._profiles[partition] = profile
        return self._profiles[partition]

    def _keys(self, reference: tuple[str, ...], key: str) -> set[str] | None:
        if (reference, key) not in self._reference_keys:
            pointer = self.store.pointer(reference, None)
            keys = None
            if pointer is not None:
                manifest = self.store.manifest(reference, None, pointer["version"])
                keys = {str(v) for v in self.store.read_table(manifest, [key]).column(key).to_pylist()}
            self._reference_keys[(reference, key)] = keys
        return self._reference_keys[(reference, key)]
