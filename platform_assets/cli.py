"""The `platform` command: operate the lake without opening the UI."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from platform_assets.domains import DOMAIN_MODULES, landing_source
from platform_assets.lake.layout import PartitionKeyError, validate_partition_key
from platform_assets.lake.storage import LakeStorage
from platform_assets.settings import Settings, SettingsError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(validate_partition_key(text))
    except PartitionKeyError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _storage() -> LakeStorage:
    return LakeStorage.from_settings(Settings.from_env())


def cmd_land(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.end < args.start:
        raise SystemExit("--end is before --start")
    storage = _storage()
    if args.if_empty and storage.list_names("landing"):
        print(f"{storage.uri('landing')} already has files; nothing landed (--if-empty)")
        return 0
    land, file_count = landing_source(args.domain)
    total = file_count(args.start, args.end)
    with tqdm(total=total, unit="file", desc=f"landing {args.domain}", disable=args.quiet) as bar:
        counts = land(storage, args.start, args.end, progress=bar.update)
    print(
        f"landed {args.domain} {args.start}..{args.end} into {storage.uri('landing')}: "
        f"{counts['written']} written, {counts['unchanged']} unchanged"
    )
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
