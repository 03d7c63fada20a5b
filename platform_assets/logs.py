"""Structured log records: one JSON object per line, so a log shipper can index them.

Platform code calls `emit("version_published", run_id=..., asset=..., rows=...)`. The
record goes to the `platform_assets` Python logger, which writes bare JSON lines to
stderr (Dagster captures a step's stderr; a container runtime ships it), and, when a
Dagster logger is passed, to the run's event log as well, so the UI shows the same
facts an operator greps for. Field names are constants because dashboards and alert
rules are built on them."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "platform_assets"

# Field names shared by every record that describes data written or read.
RUN_ID = "run_id"
ASSET = "asset"
PARTITION = "partition"
VERSION = "version"
ROWS = "rows"
BYTES = "bytes"
ENV = "env"


def current_run_id() -> str | None:
    """The run whose step is executing this code, if any.

    Dagster keeps the step's context for the whole step: the asset or check function,
    and the IO manager's reads and writes it triggers. Code that has no context at hand
    (a storage retry deep in a write) is attributed through it. Threads the platform
    starts inside a step copy the caller's context (`lake.history.parallel_map`)."""
    dagster = sys.modules.get("dagster")
    if dagster is None:  # no run executes in a process that never imported Dagster
        return None
    for current in (dagster.AssetExecutionContext.get, dagster.AssetCheckExecutionContext.get):
        try:
            return current().run.run_id
        except dagster.DagsterInvariantViolationError:
            continue
    return None


def get_logger() -> logging.Logger:
    """The platform logger, writing one JSON object per line to stderr.

    Configured on first use rather than at import, and only if nobody (a test, a
    deployment's logging config) configured it first."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return logger


def record(event: str, level: int = logging.INFO, **fields: Any) -> dict[str, Any]:
    """The record as a dict: fixed envelope first, then the caller's fields (None dropped).

    `env` is in every record, as it is in every metric sample and manifest (`config.env`),
    so a log search, a dashboard and a manifest can be joined on it and on `run_id`,
    which a record logged inside a run gets even when its caller did not pass one."""
    if fields.get(RUN_ID) is None:
        fields[RUN_ID] = current_run_id()
    return {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": logging.getLevelName(level).lower(),
        "logger": LOGGER_NAME,
        "event": event,
        ENV: os.environ.get("PLATFORM_ENV", "").strip().lower() or "dev",
        **{key: value for key, value in fields.items() if value is not None},
    }


def emit(
    event: str,
    *,
    level: int = logging.INFO,
    dagster_log: logging.Logger | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Log one structured record and return it (tests and alerts reuse the dict)."""
    entry = record(event, level, **fields)
    line = json.dumps(entry, default=str, sort_keys=True)
    get_logger().log(level, line)
    if dagster_log is not None:
        dagster_log.log(level, line)
    return entry


def version_written(
    run_id: str,
    asset_key: Sequence[str],
    manifest: Mapping[str, Any],
    *,
    dagster_log: logging.Logger | None = None,
) -> dict[str, Any]:
    """The record of one version written by the IO manager, from its manifest."""
    return emit(
        "version_written",
        dagster_log=dagster_log,
        **{
            RUN_ID: run_id,
            ASSET: "/".join(asset_key),
            PARTITION: manifest.get("partition"),
            VERSION: manifest.get("version"),
            ROWS: manifest.get("row_count"),
            BYTES: manifest.get("bytes"),
        },
        status=manifest.get("status", "published"),
        kind=manifest.get("kind"),
    )
