"""`platform metrics serve`: the exporter as a long-running HTTP server.

It reads the lake that `PLATFORM_LAKE_URL` names and, when `DAGSTER_HOME` is set, the
Dagster instance there (runs and steps); without one it still serves the lake's metrics.
The watched landing datasets come from the code location's definitions, so the
exporter knows nothing about any one domain."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Sequence

import dagster as dg
from prometheus_client import CollectorRegistry, start_http_server

from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets.observability.exporter import PlatformCollector
from platform_assets.observability.landing_backlog import WatchedDataset
from platform_assets.settings import Settings

DEFAULT_PORT = 9464
# Below Prometheus's default scrape interval, so every scrape sees a new reading.
DEFAULT_REFRESH_SECONDS = 10.0


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--refresh-seconds must be a positive number, got {text!r}")
    return value


def watched_datasets(assets: Sequence[object]) -> list[WatchedDataset]:
    """Every landing dataset the definitions' raw assets copy."""
    from platform_assets.automation.landing_scan import landing_datasets

    return [
        WatchedDataset(
            d.name, d.ext, (d.asset_key.path[0], d.asset_key.path[1]), d.partitions_def is not None
        )
        for d in landing_datasets(assets)
    ]


def _instance() -> dg.DagsterInstance | None:
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None


def build_collector(settings: Settings | None = None) -> PlatformCollector:
    from platform_assets.definitions import defs

    settings = settings or Settings.from_env()
    store = VersionStore(LakeStorage.from_settings(settings))
    return PlatformCollector(store, settings.env, watched_datasets(defs.assets or []), instance=_instance)


def cmd_serve(args: argparse.Namespace) -> int:
    registry = CollectorRegistry(auto_describe=False)
    collector = build_collector()
    collector.start_refreshing(args.refresh_seconds)
    registry.register(collector)
    server, thread = start_http_server(args.port, addr=args.host, registry=registry)
    print(f"serving platform metrics on http://{args.host}:{server.server_port}/metrics", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    collector.stop_refreshing()
    server.shutdown()
    thread.join(timeout=5)
    return 0


def add_metrics_command(commands: argparse._SubParsersAction) -> None:
    metrics = commands.add_parser("metrics", help="Prometheus metrics of the lake and the runs")
    actions = metrics.add_subparsers(dest="metrics_command", required=True)
    serve = actions.add_parser("serve", help="serve /metrics for Prometheus to scrape")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument(
        "--refresh-seconds",
        type=_positive,
        default=DEFAULT_REFRESH_SECONDS,
        help=f"how often to re-read the lake and the instance (default {DEFAULT_REFRESH_SECONDS:g})",
    )
    serve.set_defaults(func=cmd_serve)
