"""`platform promote` and `platform canary`: arguments, evidence tables and exit codes.

The logic lives in promotion.py and canary.py; this module only turns flags into
their calls and their results into what a person reads. Exit codes: 0 done (or
nothing to do), 1 refused or differences beyond tolerance, 2 bad input."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from platform_assets.domains import DEFAULT_DOMAIN, domain_names
from platform_assets.governance.regions import RegionError
from platform_assets.lake import layout
from platform_assets.lake.history import lake_assets
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets.maintenance import promotion
from platform_assets.maintenance.config import MaintenanceConfigError, load_config
from platform_assets.maintenance.lakes import (
    LakeIdentityError,
    check_direction,
    check_target_region,
    open_lake,
)


def _partition_list(text: str) -> list[str]:
    try:
        return [layout.validate_partition_key(p.strip()) for p in text.split(",") if p.strip()]
    except layout.PartitionKeyError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _day(text: str) -> str:
    return _partition_list(text)[0] if text else text


def selected_assets(storage: LakeStorage, select: Sequence[str]) -> list[tuple[str, ...]]:
    """Asset keys from `--select`: `zone/name`, or a zone for every asset of it in the lake."""
    present = [tuple(key) for key in lake_assets(VersionStore(storage))]
    chosen: list[tuple[str, ...]] = []
    for item in select:
        parts = tuple(item.strip("/").split("/"))
        if len(parts) == 1:
            if parts[0] not in layout.ASSET_ZONES:
                raise ValueError(f"--select {item!r}: not an asset key or one of {layout.ASSET_ZONES}")
            chosen += [key for key in present if key[0] == parts[0] and key not in chosen]
            continue
        try:
            layout.asset_path(parts)
        except layout.AssetPathError as error:
            raise ValueError(f"--select {item!r}: {error}") from None
        if parts not in present:
            raise ValueError(f"--select {item!r}: no such asset in {storage.url}")
        if parts not in chosen:
            chosen.append(parts)
    if not chosen:
        raise ValueError(f"--select {' '.join(select)} matches no asset in {storage.url}")
    return chosen


def partitions_for(
    store: VersionStore, key: Sequence[str], explicit: list[str] | None, start: str | None, end: str | None
) -> list[str | None]:
    """The partitions asked for: a list, a range, or (neither) every partition the source has."""
    existing = store.partitions(key)
    if not existing:
        return [None]
    if explicit:
        return list(explicit)
    if start or end:
        first = date.fromisoformat(start or existing[0])
        last = date.fromisoformat(end or start or existing[-1])
        if last < first:
            raise ValueError("--end is before --start")
        days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
        return [d for d in days if d in set(existing)] or days
    return list(existing)


@lru_cache(maxsize=1)
def _row_keys() -> dict[str, list[str]]:
    """Row keys from the code location's contracts (loaded once per process: the code cannot change)."""
    from platform_assets.definitions import build_definitions
    from platform_assets.maintenance.comparison import row_keys

    return row_keys(build_definitions().assets)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    )


def evidence_table(evidence: Sequence[promotion.Evidence]) -> str:
    rows = []
    for e in evidence:
        c = e.comparison
        rows.append(
            [
                e.asset,
                e.partition or "-",
                e.source_version or "-",
                e.target_version or "-",
                e.audit,
                f"{c.rows_before}->{c.rows_after}" if c else "-",
                f"+{c.added} -{c.removed} ~{c.changed}" if c else "-",
                "yes" if e.sensitive else "no",
                e.status,
                "; ".join(e.refusals or e.differences)[:160] or "-",
            ]
        )
    header = [
        "ASSET",
        "PARTITION",
        "SOURCE VERSION",
        "TARGET PUBLISHES",
        "AUDIT",
        "ROWS",
        "KEYS",
        "SENSITIVE",
    ]
    return _table(rows, [*header, "STATUS", "NOTES"])


def cmd_promote(args: argparse.Namespace) -> int:
    if args.accept_differences and not args.reason:
        print("platform: --accept-differences needs --reason", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        source = open_lake(args.source_env, args.from_url)
        target = open_lake(args.target_env, args.to_url)
        check_direction(source, target, config.environment_order)
        check_target_region(target)
        store = VersionStore(source.storage)
        selection = {
            key: partitions_for(store, key, args.partitions, args.start, args.end)
            for key in selected_assets(source.storage, args.select)
        }
    except (LakeIdentityError, MaintenanceConfigError, RegionError, ValueError) as error:
        print(f"platform: promotion refused: {error}", file=sys.stderr)
        return 2
    request = promotion.default_request(args.reason, args.accept_differences, args.approved_by)
    evidence = promotion.gather_evidence(source, target, selection, _row_keys(), config, request)
    print(f"promote {source.describe()} -> {target.describe()}")
    print(evidence_table(evidence))
    if args.json:
        print(json.dumps([{**vars_of(e)} for e in evidence], indent=2, default=str))
    if args.dry_run:
        refused = sum(e.status == promotion.REFUSED for e in evidence)
        print(f"dry run: nothing copied; {refused} partition(s) would be refused")
        return 1 if refused else 0
    try:
        done = promotion.promote(source, target, evidence, request)
    except promotion.PromotionError as error:
        print(f"platform: promotion refused: {error}", file=sys.stderr)
        return 1
    skipped = sum(e.status == promotion.ALREADY for e in evidence)
    seconds = sum(e.seconds for e in done)
    print(f"promoted {len(done)} partition(s), {skipped} already promoted (no-op); {seconds:.1f}s of copying")
    return _tell_dagster(target, source, done, request)


def vars_of(e: promotion.Evidence) -> dict[str, Any]:
    return {**{k: v for k, v in vars(e).items() if k != "comparison"}, **e.summary()}


def _tell_dagster(
    target: Any, source: Any, done: list[promotion.Evidence], request: promotion.Request
) -> int:
    if not done:
        return 0
    if not os.environ.get("DAGSTER_HOME"):
        print("platform: DAGSTER_HOME is unset; promotions are in the pointer history only", file=sys.stderr)
        return 0
    import dagster as dg

    try:
        instance = dg.DagsterInstance.get()
        for evidence in done:
            promotion.report_promotion(target, source, evidence, request, instance)
    except Exception as error:  # noqa: BLE001 - the pointer is the record; say what is missing
        print(f"platform: promoted but not recorded in Dagster: {error}", file=sys.stderr)
        return 1
    print(f"recorded {len(done)} promotion event(s) in the Dagster instance")
    return 0


def cmd_canary(args: argparse.Namespace) -> int:
    from pathlib import Path

    from platform_assets.lake.resources import LakeResource
    from platform_assets.maintenance.canary import new_canary_id, run_canary
    from platform_assets.maintenance.canary_lake import CanaryIdError
    from platform_assets.maintenance.canary_report import MARKDOWN_FILE, write_report
    from platform_assets.maintenance.canary_slice import SliceError, representative_slice

    if bool(args.partitions) == bool(args.auto):
        print("platform: canary needs --partitions DAYS or --auto (not both)", file=sys.stderr)
        return 2
    lake = LakeResource()
    try:
        config = load_config(args.config)
        storage = lake.storage()
        select = selected_assets(storage, args.select)
        if args.auto:
            days = representative_slice(lake.versions(), config.canary_slice(args.domain))
        else:
            days = {day: ["named"] for day in args.partitions}
        canary_id = args.id or new_canary_id()
        print(
            f"canary {canary_id}: {', '.join('/'.join(k) for k in select)} on {', '.join(days)}", flush=True
        )
        report = run_canary(lake, select, days, _row_keys(), config.canary, canary_id)
    except (MaintenanceConfigError, SliceError, CanaryIdError, ValueError) as error:
        print(f"platform: canary refused: {error}", file=sys.stderr)
        return 2
    out_dir = Path(args.out) / report.canary_id if args.out else None
    written = write_report(report, storage, out_dir)
    print(Path(written[MARKDOWN_FILE]).read_text() if out_dir else "")
    print("report: " + ", ".join(written.values()))
    if report.exceeded:
        print("platform: canary differences exceed [canary.tolerance]", file=sys.stderr)
        return 1
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `promote` and `canary` on the `platform` command."""
    promote = commands.add_parser(
        "promote", help="copy audited versions to another environment, with evidence"
    )
    promote.add_argument(
        "--from", dest="source_env", help="source environment (URL from PLATFORM_LAKE_URL_<ENV>)"
    )
    promote.add_argument(
        "--to", dest="target_env", help="target environment (URL from PLATFORM_LAKE_URL_<ENV>)"
    )
    promote.add_argument("--from-url", help="source lake URL (checked against its _lake.json)")
    promote.add_argument("--to-url", help="target lake URL (checked against its _lake.json)")
    promote.add_argument("--select", nargs="+", required=True, help="asset keys (<zone>/<name>) or zones")
    promote.add_argument("--partitions", type=_partition_list, help="days, comma-separated")
    promote.add_argument("--start", type=_day, help="first day of a range")
    promote.add_argument("--end", type=_day, help="last day of a range (inclusive)")
    promote.add_argument("--dry-run", action="store_true", help="print the evidence table; copy nothing")
    promote.add_argument("--accept-differences", action="store_true", help="promote despite differences")
    promote.add_argument("--reason", help="why, for the audit trail (required with --accept-differences)")
    promote.add_argument("--approved-by", help="approver of a sensitive dataset's promotion")
    promote.add_argument("--config", help="maintenance TOML (default: the shipped maintenance.toml)")
    promote.add_argument("--json", action="store_true", help="also print the evidence as JSON")
    promote.set_defaults(func=cmd_promote)

    canary = commands.add_parser("canary", help="run the current code on a slice, beside what is published")
    canary.add_argument("--select", nargs="+", required=True, help="asset keys (<zone>/<name>) or zones")
    canary.add_argument("--partitions", type=_partition_list, help="days, comma-separated")
    canary.add_argument("--auto", action="store_true", help="a representative slice computed from the lake")
    canary.add_argument(
        "--domain",
        default=DEFAULT_DOMAIN,
        choices=domain_names(),
        help=f"whose [canary.slice] rules --auto follows (default {DEFAULT_DOMAIN})",
    )
    canary.add_argument("--id", help="canary id (default: start time and a random suffix)")
    canary.add_argument(
        "--out", default="canary-reports", help="local folder for the report (default: %(default)s)"
    )
    canary.add_argument("--config", help="maintenance TOML (default: the shipped maintenance.toml)")
    canary.set_defaults(func=cmd_canary)
