"""What `make bench` prints and appends to RESULTS.md: figures as they come, then ratios and targets.

Every line is printed when it is known and kept; the section is appended to the
results file at the end, also when a part failed or the run was interrupted, so a
long run that is stopped still leaves what it measured."""

from __future__ import annotations

import os
import platform as host
import subprocess
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _uptime() -> str:
    done = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], capture_output=True, text=True, cwd=REPO, check=False
    )
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def _memory_gib() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    return "?"


class Report:
    def __init__(self, results: Path | None) -> None:
        self.results = results
        self.lines: list[str] = []
        self.rows: list[tuple[str, float, str]] = []

    def _say(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)

    def start(self, start: str, end: str, parts: list[str], quick: bool) -> None:
        now = datetime.now(UTC)
        self.header = [
            f"## make bench, {now:%Y-%m-%d %H:%M} UTC{' (quick mode)' if quick else ''}",
            "",
            f"- machine: {host.machine()}, {os.cpu_count()} cores, {_memory_gib()}, Python "
            f"{host.python_version()}; anything else running shows in the load averages below",
            f"- git commit: {_commit()}",
            f"- range: {start}..{end}; parts: {', '.join(parts)}",
            f"- `uptime` at start: {_uptime()}",
        ]
        for line in self.header:
            print(line, flush=True)

    def row(self, label: str, value: float, unit: str) -> None:
        self.rows.append((label, value, unit))
        print(f"  {label}: {value:.1f} {unit}", flush=True)

    def note(self, text: str) -> None:
        self._say(f"- {text}" if not text.startswith("    ") else text)

    def finish(self, figures: dict[str, float], chunk_days: int, total_s: float) -> None:
        verdicts = targets(figures)
        body = [
            *self.header,
            f"- `uptime` at end: {_uptime()}",
            f"- total time of `make bench`: {total_s:.0f} s",
            "",
            "| figure | value |",
            "|---|---|",
            *[f"| {label} | {value:.1f} {unit} |" for label, value, unit in self.rows],
            "",
            "Ratios and targets:",
            "",
            *[f"- {line}" for line in verdicts],
            "",
            "Notes:",
            "",
            *self.lines,
            "",
        ]
        print("\n".join(["", "Ratios and targets:", *verdicts, f"total: {total_s:.0f} s"]), flush=True)
        if self.results:
            with self.results.open("a") as out:
                out.write("\n" + "\n".join(body))
            print(f"appended to {self.results}", flush=True)


def _ratio(figures: dict[str, float], a: str, b: str) -> float | None:
    return figures[a] / figures[b] if a in figures and b in figures and figures[b] > 0 else None


def targets(f: dict[str, float]) -> list[str]:
    """Each target of issue 17 as met / not met with its figures; absent figures say so."""
    out = []
    runs = f"{f.get('workers', 2):.0f} runs at once"
    for platform, floor, how in (
        ("platform", "dagster_floor", "one run each"),
        ("platform_split", "dagster_floor", f"platform in {runs}, Dagster floor in one (stock)"),
        ("platform_split", "dagster_floor_split", f"{runs} each"),
    ):
        if {platform, floor, "data_floor"} <= f.keys():
            own, bound = f[platform] - f[floor], 4 * f["data_floor"]
            out.append(
                f"platform - Dagster floor ({how}) = {own:.1f} s vs 4 x data floor = {bound:.1f} s: "
                f"{'MET' if own <= bound else 'NOT MET'} ({own / f['data_floor']:.1f} x the data floor)"
            )
    for key, label in (
        (("platform", "platform_split"), f"platform one run / {runs}"),
        (("dagster_floor", "dagster_floor_split"), f"Dagster floor one run / {runs}"),
        (("platform", "data_floor"), "platform / data floor"),
        (("platform_split", "data_floor"), f"platform in {runs} / data floor"),
        (("platform", "pandas"), "platform / pandas baseline"),
        (("pandas", "data_floor"), "pandas baseline / data floor"),
        (("dagster_floor", "data_floor"), "Dagster floor (SQLite) / data floor"),
        (("dagster_floor_pg", "dagster_floor"), "Dagster floor PostgreSQL / SQLite"),
        (("platform", "peer"), "platform / stock Dagster peer, backfill"),
        (("platform_day", "peer_day"), "platform / stock Dagster peer, one day"),
    ):
        ratio = _ratio(f, *key)
        out.append(f"{label}: {ratio:.2f} x" if ratio is not None else f"{label}: not measured")
    for key, bound in (("incremental_p50", 10.0), ("incremental_p95", 20.0)):
        if key in f:
            verdict = "MET" if f[key] <= bound else "NOT MET"
            out.append(f"incremental day {key[-3:]}: {f[key]:.1f} s vs {bound:.0f} s: {verdict}")
        else:
            out.append(f"incremental day {key[-3:]}: not measured")
    years = round(f.get("scale_years", 10))
    bound = 1.1 * years  # ten years in at most 11x one year: 10% over linear
    if "scale" in f and "scale_base" in f:  # the verdict: the same path, chunks and workers
        ratio = f["scale"] / f["scale_base"]
        out.append(f"scale time ({years} years) / one year chunked the same way: {ratio:.2f} x "
                   f"(target <= {bound:.1f} x): {'MET' if ratio <= bound else 'NOT MET'}")  # fmt: skip
    for base, label in (("platform", "one-run"), ("platform_split", runs)):
        if "scale" in f and base in f:
            ratio = f["scale"] / f[base]
            out.append(f"scale time ({years} years) / one-year backfill ({label}): {ratio:.2f} x")
    if "scale_rss" in f and "platform_rss" in f:
        ratio = f["scale_rss"] / f["platform_rss"]
        out.append(f"scale peak RSS / one-year peak RSS: {ratio:.2f} x (target <= 1.2 x): "
                   f"{'MET' if ratio <= 1.2 else 'NOT MET'}")  # fmt: skip
    if "speedup_w1_rss" in f and "platform_rss" in f:
        ratio = f["speedup_w1_rss"] / f["platform_rss"]
        out.append(f"chunked, one worker: peak RSS / one-year single-run peak: {ratio:.2f} x "
                   f"(target <= 1.2 x): {'MET' if ratio <= 1.2 else 'NOT MET'}")  # fmt: skip
    speedup = _ratio(f, "speedup_w1", "speedup_w2")
    if speedup is not None:
        out.append(f"two run workers vs one: {speedup:.2f} x faster")
    return out
