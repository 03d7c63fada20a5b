"""The `platform` command: operate the lake without opening the UI."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from datetime import date

from platform_assets.domains import DOMAIN_MODULES, landing_source
from platform_assets.governance import commands as governance_commands
from platform_assets.lake import history, identity
from platform_assets.lake.access import LakeAccessDenied
from platform_assets.lake.landing import REJECTED_FOLDER
from platform_assets.lake.layout import AssetPathError, PartitionKeyError, asset_path, validate_partition_key
from platform_assets.lake.storage import LakeIntegrityError, LakePathError, LakeStorage
from platform_assets.lake.versions import VersionError, VersionStore
from platform_assets.maintenance import commands as maintenance_commands
from platform_assets.maintenance import retention_commands
from platform_assets.settings import Settings, SettingsError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(validate_partition_key(text))
    except PartitionKeyError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _storage(as_identity: str = "operator") -> LakeStorage:
    """The lake, after its identity record agrees with PLATFORM_ENV (before any write),
    acting as the operator (rollback, promotion, retention) unless told otherwise."""
    from platform_assets.governance.guard import open_lake

    settings = Settings.from_env()
    storage = open_lake(settings, as_identity)  # governance refuses a bucket before anything is written
    identity.ensure_lake_identity(settings)
    return storage


def cmd_init_lake(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        record = identity.init_lake(settings)
    except identity.LakeAlreadyInitialised:
        found = identity.read_identity(settings)
        print(f"platform: {identity.identity_url(settings)} exists already: {found}", file=sys.stderr)
        return 0 if found is not None and found.environment == settings.env else 1
    print(f"initialised {settings.lake_url} as the {record.environment} lake ({record.region})")
    return 0


def cmd_land(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.end < args.start:
        raise SystemExit("--end is before --start")
    storage = _storage("landing")
    if args.if_empty and [n for n in storage.list_names("landing") if n != REJECTED_FOLDER]:
        print(f"{storage.uri('landing')} already has files; nothing landed (--if-empty)")
        return 0
    land, file_count = landing_source(args.domain)
    total = file_count(args.start, args.end)
    # A bar only where a person watches it: in a log or CI it would be hundreds of
    # carriage-return frames, and the summary line below says the same once.
    show_bar = not args.quiet and sys.stderr.isatty()
    with tqdm(total=total, unit="file", desc=f"landing {args.domain}", disable=not show_bar) as bar:
        counts = land(storage, args.start, args.end, progress=bar.update)
    print(
        f"landed {args.domain} {args.start}..{args.end} into {storage.uri('landing')}: "
        f"{counts['written']} written, {counts['unchanged']} unchanged"
    )
    return 0


def _interval(text: str) -> float:
    from platform_assets.automation.replay import parse_interval

    try:
        return parse_interval(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def cmd_replay(args: argparse.Namespace) -> int:
    from platform_assets.automation.replay import replay

    storage = _storage("landing")
    land, _ = landing_source(args.domain)
    print(f"replaying {args.domain} from {args.start}, {args.days} day(s), one every {args.every:g}s")
    replay(
        storage,
        land,
        args.start,
        args.days,
        args.every,
        report=lambda d: print(
            f"{d.landed_at:%H:%M:%S} landed {d.day} into {storage.uri('landing')}: "
            f"{d.written} written, {d.unchanged} unchanged",
            flush=True,
        ),
    )
    return 0


def _asset(text: str) -> list[str]:
    """`serving/route_daily` as an asset key, refused before any path is formed."""
    parts = text.strip("/").split("/")
    try:
        asset_path(parts)
    except AssetPathError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return parts


def _partition(text: str) -> str:
    try:
        return validate_partition_key(text)
    except PartitionKeyError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _versions_store() -> VersionStore:
    return VersionStore(_storage())


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _failed_checks(checks: dict) -> str:
    failed = [
        name for name, result in checks.items() if isinstance(result, dict) and result.get("passed") is False
    ]
    return (
        ("failed: " + ",".join(sorted(failed))) if failed else (f"{len(checks)} recorded" if checks else "-")
    )


def cmd_versions(args: argparse.Namespace) -> int:
    store = _versions_store()
    partitions = store.partitions(args.asset)
    name = "/".join(args.asset)
    if args.partition is None and partitions:
        pointers = history.parallel_map(lambda p: (p, store.pointer(args.asset, p)), partitions)
        rows = [
            [p, ptr["version"] if ptr else "-", ptr["published_at"] if ptr else "-"] for p, ptr in pointers
        ]
        print(f"{name}: {len(partitions)} partition(s); pass --partition to list one's versions")
        print(_table(rows, ["PARTITION", "PUBLISHED VERSION", "PUBLISHED AT"]))
        return 0
    found = history.version_history(store, args.asset, args.partition)
    if not found:
        where = f" partition {args.partition}" if args.partition else ""
        print(f"platform: {name}{where} has no versions in {store.storage.url}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([dataclasses.asdict(v) for v in found], indent=2, default=str))
        return 0
    rows = [
        [
            v.version, v.state, v.audit, v.created_at, v.published_at or "-", v.run_id[:8],
            "-" if v.row_count is None else str(v.row_count), _failed_checks(v.checks),
        ]
        for v in found
    ]  # fmt: skip
    print(_table(rows, ["VERSION", "STATE", "AUDIT", "CREATED", "LAST PUBLISHED", "RUN", "ROWS", "CHECKS"]))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    store = _versions_store()
    try:
        done = history.rollback(
            store, args.asset, args.partition, to=args.to, reason=args.reason, force=args.force
        )
    except history.RollbackError as error:
        print(f"platform: rollback refused: {error}", file=sys.stderr)
        return 1
    where = "/".join(args.asset) + (f" date={args.partition}" if args.partition else "")
    print(
        f"{where}: {done.from_version} -> {done.to_version} "
        f"({'rolled forward' if done.direction == 'forward' else 'rolled back'}; "
        f"audit: {done.audit}{', forced' if done.forced else ''}) by {done.actor} "
        f"in {done.seconds * 1000:.0f} ms; no data copied"
    )
    if not os.environ.get("DAGSTER_HOME"):
        print("platform: DAGSTER_HOME is unset; the rollback is in the pointer history only", file=sys.stderr)
        return 0
    try:
        history.report_rollback(done)
    except Exception as error:  # noqa: BLE001 - the pointer is the record; say what is missing
        print(f"platform: rollback done but not recorded in Dagster: {error}", file=sys.stderr)
        return 1
    print(
        f"recorded on {'/'.join(args.asset)} in the Dagster instance; downstream partitions built from "
        f"{done.from_version} are now stale and automation rebuilds them"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    store = _versions_store()
    keys = [args.asset] if args.asset else [list(key) for key in history.lake_assets(store)]
    rows = []
    problems: list[str] = []
    for key in keys:
        status = history.asset_status(store, key)
        held = ",".join(status.held_back[:3]) + ("..." if len(status.held_back) > 3 else "")
        rows.append(
            [
                status.asset, str(status.partitions), str(status.published),
                status.last_published_at or "-", str(len(status.held_back)), held or "-",
            ]
        )  # fmt: skip
        problems.extend(status.problems)
    print(f"lake: {store.storage.url}")
    print(_table(rows, STATUS_COLUMNS))
    print(
        "held back: partitions whose newest version is not the one readers see "
        "(failed audit, rollback, or not yet audited)"
    )
    if problems:
        print(f"\n{len(problems)} unreadable pointer(s) or manifest(s); `platform verify` checks everything:")
        print("\n".join(f"  {problem}" for problem in problems))
    from platform_assets.automation.landing_rejects import rejected_summary

    print(rejected_summary(store.storage))
    return 0


# Each name says what its column holds: counts of partitions, a time, partition keys.
STATUS_COLUMNS = [
    "ASSET", "PARTITIONS WRITTEN", "PARTITIONS PUBLISHED", "LAST PUBLISHED AT",
    "PARTITIONS HELD BACK", "HELD BACK (FIRST 3)",
]  # fmt: skip


def cmd_verify(args: argparse.Namespace) -> int:
    import time

    from platform_assets.lake.verify import verify_lake

    store = _versions_store()
    started = time.perf_counter()
    report = verify_lake(
        store, [args.asset] if args.asset else None, args.partitions, repair_index=args.repair_index
    )
    seconds = time.perf_counter() - started
    print(
        f"verified {store.storage.url}: {report.partitions} partition(s), {report.versions} version(s), "
        f"{report.files} file(s), {report.bytes:,} bytes hashed in {seconds:.1f} s"
    )
    if report.index_notes:  # publish index: readers read these pointers directly until recorded
        done = "recorded" if args.repair_index else "lagging (--repair-index records them)"
        print(f"publish index, {len(report.index_notes)} entr(y/ies) {done}:")
        print("\n".join(f"  {note}" for note in report.index_notes))
    if not report.problems:
        print("no problems found")
        return 0
    print(f"{len(report.problems)} problem(s):")
    print("\n".join(f"  {problem}" for problem in report.problems))
    return 1


def _add_version_commands(commands: argparse._SubParsersAction) -> None:
    versions = commands.add_parser("versions", help="list an asset's versions with publish and audit state")
    versions.add_argument("asset", type=_asset, help="asset key, e.g. serving/carrier_daily_performance")
    versions.add_argument("--partition", type=_partition, help="day, YYYY-MM-DD (partitioned assets)")
    versions.add_argument("--json", action="store_true", help="machine-readable output")
    versions.set_defaults(func=cmd_versions)

    rollback = commands.add_parser("rollback", help="re-point readers at an earlier audited version")
    rollback.add_argument("asset", type=_asset, help="asset key, e.g. serving/carrier_daily_performance")
    rollback.add_argument("--partition", type=_partition, help="day, YYYY-MM-DD (partitioned assets)")
    rollback.add_argument("--to", help="version id (default: the one published before the current)")
    rollback.add_argument("--reason", help="why, for the audit trail")
    rollback.add_argument("--force", action="store_true", help="publish even a version that failed its audit")
    rollback.set_defaults(func=cmd_rollback)

    status = commands.add_parser(
        "status", help="per asset: partitions written, published, last published at, partitions held back"
    )
    status.add_argument("asset", nargs="?", type=_asset, help="one asset (default: every asset in the lake)")
    status.set_defaults(func=cmd_status)

    verify = commands.add_parser(
        "verify", help="check every pointer, manifest and data file (sizes, rows, content hashes)"
    )
    verify.add_argument("asset", nargs="?", type=_asset, help="one asset (default: every asset in the lake)")
    verify.add_argument("--partitions", nargs="+", type=_partition, help="only these days")
    verify.add_argument(
        "--repair-index", action="store_true", help="record publish index entries that lag their pointers"
    )
    verify.set_defaults(func=cmd_verify)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    land = commands.add_parser("land", help="drop source files into the lake's landing area")
    land.add_argument("--domain", choices=sorted(DOMAIN_MODULES), default="flights")
    land.add_argument("--start", type=_day, required=True, help="first day, YYYY-MM-DD")
    land.add_argument("--end", type=_day, help="last day (inclusive), default: --start")
    land.add_argument("--quiet", action="store_true", help="no progress bar")
    land.add_argument("--if-empty", action="store_true", help="do nothing when anything has landed already")
    land.set_defaults(func=cmd_land)

    replay = commands.add_parser("replay", help="land one day at a time, as a live feed would")
    replay.add_argument("--domain", choices=sorted(DOMAIN_MODULES), default="flights")
    replay.add_argument("--start", type=_day, required=True, help="first day, YYYY-MM-DD")
    replay.add_argument("--days", type=int, default=7, help="how many days to land (default 7)")
    replay.add_argument("--every", type=_interval, default=10.0, help="pause between days: 10s, 1m, ...")
    replay.set_defaults(func=cmd_replay)
    _add_version_commands(commands)
    maintenance_commands.add_commands(commands)
    governance_commands.add_commands(commands)
    retention_commands.add_commands(commands)
    from platform_assets.governance.cli import add_iam_policies_command

    add_iam_policies_command(commands)

    init = commands.add_parser("init-lake", help="write the lake's identity record for PLATFORM_ENV (once)")
    init.set_defaults(func=cmd_init_lake)

    from platform_assets.observability.serve import add_metrics_command

    add_metrics_command(commands)
    from platform_assets.maintenance.backfill import add_backfill_command

    add_backfill_command(commands, _day)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "end", "unset") is None:
        args.end = args.start
    try:
        return args.func(args)
    except SettingsError as error:
        print(f"platform: configuration error: {error}", file=sys.stderr)
        return 2
    except LakeAccessDenied as error:
        print(f"platform: {error}", file=sys.stderr)
        return 3
    except identity.LakeIdentityError as error:
        print(f"platform: wrong lake: {error}", file=sys.stderr)
        return 2
    except (LakeIntegrityError, VersionError, LakePathError, AssetPathError, PartitionKeyError) as error:
        # Bad input or a damaged lake: a message that names the path, not a traceback.
        print(f"platform: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
