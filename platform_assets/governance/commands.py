"""`platform audit-log`: who read or changed an asset, and when."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from platform_assets.governance import audit_log
from platform_assets.lake.storage import LakeStorage
from platform_assets.settings import Settings


def _since(text: str) -> str:
    from platform_assets.lake.history import parse_time

    try:
        return parse_time(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time like 2026-12-01 or 2026-12-01T08:00Z"
        ) from None


def cmd_audit_log(args: argparse.Namespace) -> int:
    storage = LakeStorage.from_settings(Settings.from_env())
    records = audit_log.read_records(storage, asset=args.asset, since=args.since, action=args.action)
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in records], indent=2, default=str))
        return 0
    if not records:
        print(f"platform: no audit records match in {storage.url}", file=sys.stderr)
        return 0
    for r in records:
        where = ",".join(str(p) for p in r.partitions[:3]) + ("..." if len(r.partitions) > 3 else "")
        versions = ",".join(r.versions[:2]) + ("..." if len(r.versions) > 2 else "")
        print(
            f"{r.at}  {r.action:12} {r.outcome:6} {r.asset or '-'} [{where or '-'}] {versions or '-'}  "
            f"by {r.actor} as {r.identity} via {r.service}"
        )
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    log = commands.add_parser("audit-log", help="who read or changed the lake, and when")
    log.add_argument("--asset", help="one asset, <zone>/<name>")
    log.add_argument("--since", type=_since, help="only records at or after this time (UTC)")
    log.add_argument(
        "--action",
        choices=[
            audit_log.ACTION_PUBLISH, audit_log.ACTION_ROLLBACK, audit_log.ACTION_PROMOTE,
            audit_log.ACTION_GC_DELETE, audit_log.ACTION_CATALOG_READ,
        ],
    )  # fmt: skip
    log.add_argument("--json", action="store_true", help="machine-readable output")
    log.set_defaults(func=cmd_audit_log)
