"""`platform gc` and `platform lifecycle`: retention from the command line."""

from __future__ import annotations

import argparse
import json
import sys

from platform_assets.lake.storage import LakeStorage
from platform_assets.maintenance import gc, lifecycle
from platform_assets.maintenance.retention import RetentionConfigError, RetentionPolicy
from platform_assets.settings import Settings


def _storage() -> LakeStorage:
    return LakeStorage.from_settings(Settings.from_env())


def _policy(path: str | None) -> RetentionPolicy | None:
    try:
        return RetentionPolicy.load(path)
    except (OSError, RetentionConfigError) as error:
        raise SystemExit(f"platform: retention config: {error}") from None


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_gc(args: argparse.Namespace) -> int:
    storage = _storage()
    report = gc.collect(storage, _policy(args.config), apply=args.apply)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    items = report.deleted if report.applied else report.planned
    verb = "deleted" if report.applied else "would delete (dry run; --apply deletes)"
    for candidate in items:
        print(f"{candidate.kind:12} {_size(candidate.bytes):>9}  {candidate.path}  ({candidate.reason})")
    for candidate, why in report.skipped:
        print(f"{'kept':12} {'':>9}  {candidate.path}  ({why} at deletion time)")
    for problem in report.problems:
        print(f"platform: unreadable, so no superseded version was deleted: {problem}", file=sys.stderr)
    kinds = ", ".join(f"{k}: {v['items']}" for k, v in sorted(report.by_kind().items())) or "nothing"
    total = report.bytes_reclaimed if report.applied else report.bytes_planned
    print(f"gc {storage.url}: {verb} {len(items)} item(s), {_size(total)} ({kinds}) in {report.seconds:.1f}s")
    return 0


def cmd_lifecycle(args: argparse.Namespace) -> int:
    storage = _storage()
    try:
        rules = lifecycle.apply_rules(storage, _policy(args.config)) if args.apply else None
        shown = rules if rules is not None else lifecycle.planned_rules(storage, _policy(args.config))
    except lifecycle.LifecycleError as error:
        print(f"platform: lifecycle: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"Rules": shown}, indent=2))
    print("written to the bucket" if args.apply else "not written (dry run; --apply writes)", file=sys.stderr)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    collect = commands.add_parser("gc", help="delete what retention allows (dry run unless --apply)")
    collect.add_argument("--apply", action="store_true", help="delete; without it only report")
    collect.add_argument("--json", action="store_true", help="machine-readable report")
    collect.add_argument("--config", help="a retention.toml to use instead of the packaged one")
    collect.set_defaults(func=cmd_gc)

    rules = commands.add_parser("lifecycle", help="the bucket's S3 lifecycle rules (written with --apply)")
    rules.add_argument("--apply", action="store_true", help="write the rules to the bucket")
    rules.add_argument("--config", help="a retention.toml to use instead of the packaged one")
    rules.set_defaults(func=cmd_lifecycle)
