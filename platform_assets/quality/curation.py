"""Curating landed daily files: parse each against its raw contract, transform, screen.

Every domain's curated zone does the same three things to landed files, so they
live here once: a landed file that breaks its raw contract fails the step by name;
the rest are transformed together (one vectorised pass per run, however many days
a backfill holds) and screened day by day against the curated contract, the
rejected rows going to quarantine with their reasons."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import numpy as np
import pandas as pd

from platform_assets.lake.quarantine import Screened
from platform_assets.lake.versions import RawFile
from platform_assets.quality.contracts import Contract, canonicalize
from platform_assets.quality.landed import LandedFileError, read_landed_csvs
from platform_assets.quality.quarantine import Offer, screen_partitions


def landed_frames(files: dict[str, RawFile], contract: Contract) -> dict[str, pd.DataFrame]:
    """Each landed file typed by its raw contract; a file that breaks it fails the step by name.

    The raw audit refuses such files before this step runs; this is the same rule
    applied where the data is used, for versions published before the audit existed."""
    sources = {partition: raw.source_uri or raw.name for partition, raw in files.items()}
    parsed = read_landed_csvs({p: (raw.data, sources[p]) for p, raw in files.items()}, contract)
    for partition, result in parsed.items():
        if isinstance(result, LandedFileError):
            metadata = {"file": sources[partition], "rule": result.rule}
            raise dg.Failure(description=str(result), metadata=metadata)
    return parsed  # type: ignore[return-value]


def screen_landed_days(
    files: dict[str, RawFile],
    raw_contract: Contract,
    transform: Callable[[pd.DataFrame], pd.DataFrame],
    contract: Contract,
    extra_reasons: Callable[[pd.DataFrame], dict[str, pd.Series]] = lambda frame: {},
    partition_column: str = "date",
) -> dict[str, Screened]:
    """One screened table per partition: each file is judged on its own rows.

    The transformation runs once over every file of the run; the rows keep a
    (partition, landed row) index, so screening still sees each file alone."""
    landed = landed_frames(dict(sorted(files.items())), raw_contract)
    combined = pd.concat(landed.values(), keys=list(landed), names=["partition", "row"])
    candidates = canonicalize(transform(combined))
    reasons = extra_reasons(candidates)
    # Each partition's rows located once (not one comparison over the whole run per partition).
    labels = np.asarray(candidates.index.get_level_values("partition"))
    where = pd.Series(labels).groupby(labels, sort=False).indices
    offers = {}
    for partition, frame in landed.items():
        mine = where.get(partition, np.array([], dtype="int64"))
        offers[partition] = Offer(
            candidates.iloc[mine].droplevel("partition"),
            originals=frame,
            extra_reasons={r: mask.iloc[mine].droplevel("partition") for r, mask in reasons.items()},
        )
    return screen_partitions(offers, contract, partition_column=partition_column)
