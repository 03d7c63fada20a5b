"""History-aware checks: a partition against the lake's own published past.

A day can satisfy every rule of its contract and still be wrong: half the rows
missing, a column suddenly empty, delays shifted by a units change. Those defects
only show against what normal looks like, and the lake already holds normal: the
published versions of earlier days. Profiles are computed from those versions (not
from a side store), so a rollback or a republished day changes history the way it
changes what readers see.

Every check passes, saying so, when there is too little history to judge."""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from platform_assets.quality.outcome import Outcome

CHECK_ROW_VOLUME = "row_volume"
CHECK_DAY_OVER_DAY = "day_over_day_volume"
CHECK_NULL_RATE = "null_rates"
CHECK_SHIFT = "distribution_shift"
MAD_TO_SD = 1.4826  # scales a median absolute deviation to a standard deviation for normal data


@dataclass(frozen=True)
class Profile:
    """What history checks remember of one partition."""

    rows: int
    null_rates: dict[str, float] = field(default_factory=dict)
    stats: dict[str, dict[str, float | None]] = field(default_factory=dict)


def profile_fingerprint(config: dict[str, dict[str, Any]]) -> str:
    """Identifies the settings a profile was computed under; a stored profile is reused
    only while they are unchanged."""
    relevant = {"null_rate": config["null_rate"], "shift": config["shift"]}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def profile_record(profile: Profile, config: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"fingerprint": profile_fingerprint(config), **asdict(profile)}


def profile_from_record(record: Any, config: dict[str, dict[str, Any]]) -> Profile | None:
    """The stored profile, or None when absent or computed under other settings."""
    if not isinstance(record, dict) or record.get("fingerprint") != profile_fingerprint(config):
        return None
    return Profile(rows=record["rows"], null_rates=record["null_rates"], stats=record["stats"])


def stat_names(quantiles: Sequence[float]) -> list[str]:
    return ["mean", *(f"p{round(q * 100)}" for q in quantiles)]


def profile_frame(frame: pd.DataFrame, config: dict[str, dict[str, Any]]) -> Profile:
    """Row count, null rate per watched column, mean and quantiles of shift columns."""
    nulls = config["null_rate"]
    counted = frame
    if nulls["exclude_where"] and nulls["exclude_where"] in frame:
        counted = frame[~frame[nulls["exclude_where"]].fillna(False).astype(bool)]
    watched = [c for c in (nulls["columns"] or frame.columns) if c in frame]
    means = counted[watched].isna().mean() if len(counted) else pd.Series(0.0, index=watched)
    rates = {c: float(means[c]) for c in watched}
    shift = config["shift"]
    stats: dict[str, dict[str, float | None]] = {}
    for column in (c for c in shift["columns"] if c in frame):
        values = frame[column].dropna().astype("float64")
        if values.empty:
            stats[column] = dict.fromkeys(stat_names(shift["quantiles"]))
            continue
        points = [float(values.mean()), *(float(values.quantile(q)) for q in shift["quantiles"])]
        stats[column] = dict(zip(stat_names(shift["quantiles"]), points, strict=True))
    return Profile(rows=len(frame), null_rates=rates, stats=stats)


def profile_frames(
    frames: Mapping[str, pd.DataFrame], config: dict[str, dict[str, Any]]
) -> dict[str, Profile]:
    """`profile_frame` of many frames (a backfill's partitions) in one grouped pass.

    The same numbers as frame by frame (means and linearly interpolated quantiles per
    group); frames of differing columns are profiled one by one."""
    if len(frames) <= 1 or len({tuple(f.columns) for f in frames.values()}) > 1:
        return {key: profile_frame(frame, config) for key, frame in frames.items()}
    keys = list(frames)
    first = next(iter(frames.values()))
    sizes = [len(f) for f in frames.values()]
    combined = pd.concat(list(frames.values()), ignore_index=True)
    owner = np.repeat(np.arange(len(keys)), sizes)
    nulls = config["null_rate"]
    kept = np.ones(len(combined), dtype=bool)
    if nulls["exclude_where"] and nulls["exclude_where"] in first:
        kept = ~combined[nulls["exclude_where"]].fillna(False).astype(bool).to_numpy()
    watched = [c for c in (nulls["columns"] or first.columns) if c in first]
    missing = combined.loc[kept, watched].isna()
    rates = missing.groupby(owner[kept]).mean() if len(missing) else pd.DataFrame(columns=watched)
    shift = config["shift"]
    names = stat_names(shift["quantiles"])
    columns = [c for c in shift["columns"] if c in first]
    per_column: dict[str, pd.DataFrame] = {}
    for column in columns:
        values = pd.Series(combined[column].to_numpy(dtype="float64", na_value=np.nan))
        grouped = values.groupby(owner)
        points = {
            "mean": grouped.mean(),
            **{n: grouped.quantile(q) for n, q in zip(names[1:], shift["quantiles"], strict=True)},
        }
        per_column[column] = pd.DataFrame(points)
    out: dict[str, Profile] = {}
    for position, key in enumerate(keys):
        if position in rates.index:
            null_rates = {c: float(rates.at[position, c]) for c in watched}
        else:  # no counted rows: nothing is missing
            null_rates = dict.fromkeys(watched, 0.0)
        stats: dict[str, dict[str, float | None]] = {}
        for column, table in per_column.items():
            row = table.loc[position] if position in table.index else None
            if row is None or pd.isna(row["mean"]):  # no value at all: nothing to describe
                stats[column] = dict.fromkeys(names)
            else:
                stats[column] = {n: float(row[n]) for n in names}
        out[key] = Profile(rows=sizes[position], null_rates=null_rates, stats=stats)
    return out


ProfileLookup = Callable[[date], Profile | None]


def _days(day: date, offsets: Sequence[int]) -> list[date]:
    return [day - timedelta(days=offset) for offset in offsets]


def _history(lookup: ProfileLookup, days: Sequence[date]) -> dict[str, Profile]:
    found = {d.isoformat(): lookup(d) for d in days}
    return {d: p for d, p in found.items() if p is not None}


def row_volume(day: date, profile: Profile, lookup: ProfileLookup, cfg: dict[str, Any]) -> Outcome:
    """Rows against the median of the same weekday in recent weeks."""
    history = _history(lookup, _days(day, [7 * k for k in range(1, cfg["weeks"] + 1)]))
    counts = {d: p.rows for d, p in history.items()}
    metadata: dict[str, Any] = {"rows": profile.rows, "same_weekday_rows": counts}
    if len(counts) < cfg["min_history"]:
        message = f"{len(counts)} same-weekday partition(s) published; {cfg['min_history']} needed to judge"
        return Outcome(CHECK_ROW_VOLUME, True, cfg["severity"], message, metadata)
    median = statistics.median(counts.values())
    ratio = profile.rows / median if median else float("inf")
    metadata.update(
        median=median, ratio=round(ratio, 4), min_ratio=cfg["min_ratio"], max_ratio=cfg["max_ratio"]
    )
    passed = cfg["min_ratio"] <= ratio <= cfg["max_ratio"]
    description = (
        f"{profile.rows} rows is {ratio:.0%} of the same weekday's median {median:g} "
        f"(allowed {cfg['min_ratio']:.0%}..{cfg['max_ratio']:.0%})"
    )
    return Outcome(CHECK_ROW_VOLUME, passed, cfg["severity"], description, metadata)


def day_over_day(day: date, profile: Profile, lookup: ProfileLookup, cfg: dict[str, Any]) -> Outcome:
    """Rows against the previous day's published version: catches a partial or empty file."""
    previous = lookup(day - timedelta(days=1))
    metadata: dict[str, Any] = {"rows": profile.rows, "max_drop": cfg["max_drop"]}
    if previous is None or previous.rows == 0:
        return Outcome(CHECK_DAY_OVER_DAY, True, cfg["severity"], "no previous day to compare", metadata)
    drop = 1 - profile.rows / previous.rows
    metadata.update(previous_rows=previous.rows, drop=round(drop, 4))
    description = f"{profile.rows} rows against {previous.rows} the day before ({drop:+.0%} drop)"
    return Outcome(CHECK_DAY_OVER_DAY, drop <= cfg["max_drop"], cfg["severity"], description, metadata)


def null_rates(day: date, profile: Profile, lookup: ProfileLookup, cfg: dict[str, Any]) -> Outcome:
    """Per column, the null rate against its median over the trailing window."""
    history = _history(lookup, _days(day, range(1, cfg["lookback_days"] + 1)))
    if len(history) < cfg["min_history"]:
        message = f"{len(history)} trailing partition(s) published; {cfg['min_history']} needed to judge"
        return Outcome(CHECK_NULL_RATE, True, cfg["severity"], message, {"null_rates": profile.null_rates})
    rows = []
    for column, rate in profile.null_rates.items():
        past = [p.null_rates[column] for p in history.values() if column in p.null_rates]
        baseline = statistics.median(past) if past else 0.0
        rows.append(
            {
                "column": column,
                "null_rate": round(rate, 4),
                "baseline": round(baseline, 4),
                "increase": round(rate - baseline, 4),
            }
        )
    spikes = [r for r in rows if r["increase"] > cfg["max_increase"]]
    metadata = {
        "history_partitions": len(history),
        "max_increase": cfg["max_increase"],
        "excluded_rows_where": cfg["exclude_where"] or None,
        "columns_failed": [r["column"] for r in spikes],
    }
    if spikes:
        worst = max(spikes, key=lambda r: r["increase"])
        description = (
            f"null rate up in {len(spikes)} column(s); {worst['column']}: {worst['null_rate']:.1%} "
            f"against a median of {worst['baseline']:.1%} (allowed +{cfg['max_increase']:.0%})"
        )
    else:
        description = f"null rates within +{cfg['max_increase']:.0%} of the trailing median"
    return Outcome(CHECK_NULL_RATE, not spikes, cfg["severity"], description, metadata, spikes)


def distribution_shift(day: date, profile: Profile, lookup: ProfileLookup, cfg: dict[str, Any]) -> Outcome:
    """Mean and quantiles of each shift column against the trailing window's robust spread."""
    history = _history(lookup, _days(day, range(1, cfg["lookback_days"] + 1)))
    if len(history) < cfg["min_history"] or not profile.stats:
        why = "no columns configured" if not profile.stats else f"{len(history)} trailing partition(s)"
        return Outcome(CHECK_SHIFT, True, cfg["severity"], f"not judged: {why}", {"stats": profile.stats})
    shifted = []
    for column, stats in profile.stats.items():
        for stat, value in stats.items():
            past = [p.stats.get(column, {}).get(stat) for p in history.values()]
            past = [v for v in past if v is not None]
            if value is None or len(past) < cfg["min_history"]:
                continue
            center = statistics.median(past)
            scale = max(MAD_TO_SD * statistics.median(abs(v - center) for v in past), cfg["min_scale"])
            z = (value - center) / scale
            if abs(z) > cfg["max_z"]:
                shifted.append(
                    {
                        "column": column,
                        "stat": stat,
                        "value": round(value, 2),
                        "median": round(center, 2),
                        "z": round(z, 2),
                    }  # fmt: skip
                )
    metadata = {"history_partitions": len(history), "max_z": cfg["max_z"], "stats": profile.stats}
    if shifted:
        worst = max(shifted, key=lambda r: abs(r["z"]))
        description = (
            f"{len(shifted)} statistic(s) shifted; {worst['column']} {worst['stat']} {worst['value']} "
            f"against a median of {worst['median']} (z={worst['z']})"
        )
    else:
        description = f"no statistic beyond {cfg['max_z']} robust standard deviations"
    return Outcome(CHECK_SHIFT, not shifted, cfg["severity"], description, metadata, shifted)
