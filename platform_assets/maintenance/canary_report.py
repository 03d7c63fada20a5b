"""A canary's report: JSON for machines, Markdown for people, a plot of the biggest shifts.

Written to a local folder for the person who ran it and beside the canary's output
in the lake (`canary/<id>/_report.*`), so the evidence stays with what it describes."""

from __future__ import annotations

import io
import json
from pathlib import Path

from platform_assets.lake.storage import LakeStorage
from platform_assets.maintenance.canary import CanaryReport, PartitionResult
from platform_assets.maintenance.canary_lake import canary_prefix
from platform_assets.maintenance.comparison import biggest_shifts

JSON_FILE = "_report.json"
MARKDOWN_FILE = "_report.md"
PLOT_FILE = "_shifts.png"
PLOT_LIMIT = 8


def _cell(result: PartitionResult) -> list[str]:
    c = result.comparison
    changed = ", ".join(f"{k} ({v})" for k, v in list((c.changed_by_column if c else {}).items())[:3] if v)
    schema = []
    if c:
        schema += [f"+{n}" for n in c.schema_added] + [f"-{n}" for n in c.schema_removed]
        schema += [f"{n}: {a}->{b}" for n, (a, b) in c.schema_retyped.items()]
    return [
        result.asset,
        result.partition or "-",
        f"{c.rows_before} → {c.rows_after}" if c else "-",
        f"+{c.added} −{c.removed} ~{c.changed}" if c else "-",
        changed or "-",
        ", ".join(schema) or "-",
        f"{result.published_audit} / {result.canary_audit}",
        f"{result.published_seconds or 0:.2f}s / {result.canary_seconds or 0:.2f}s",
        "**exceeds**" if result.violations else "ok",
    ]


def markdown(report: CanaryReport) -> str:
    verdict = "differences beyond tolerance" if report.exceeded else "no differences beyond tolerance"
    lines = [
        f"# Canary {report.canary_id}: {verdict}",
        "",
        f"- lake: `{report.lake_url}`, output under `canary/{report.canary_id}/` (never published)",
        f"- code: `{report.code.get('git_commit')}`"
        + (" (dirty tree)" if report.code.get("git_dirty") else ""),
        f"- assets: {', '.join(report.assets)}",
        "- slice: " + "; ".join(f"{d} ({', '.join(why)})" for d, why in report.slice.items()),
        "",
        "| asset | partition | rows (published → canary) | keys +added −removed ~changed | changed columns |"
        " schema | audit (published / canary) | step seconds (published step / canary step) | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(_cell(r)) + " |" for r in report.results]
    for label, error in report.run_errors.items():
        lines.append(f"\n**Run for {label} failed:** {error}")
    problems = [(r, v) for r in report.results for v in r.violations]
    if problems:
        lines += ["", "## Beyond tolerance", ""]
        lines += [f"- {r.asset} {r.partition or ''}: {v}" for r, v in problems]
    shifts = biggest_shifts(report.comparisons, PLOT_LIMIT)
    if shifts:
        lines += [
            "",
            "## Biggest distribution shifts",
            "",
            f"![shifts]({PLOT_FILE})",
            "",
            "| column | mean (published → canary) | null rate | shift (std) |",
            "|---|---|---|---|",
        ]
        for name, s in shifts:
            mean = f"{s.mean[0]:.4g} → {s.mean[1]:.4g}" if None not in s.mean else "-"
            lines.append(f"| {name} | {mean} | {s.null_rate[0]:.2%} → {s.null_rate[1]:.2%} | {s.shift:.3g} |")
    return "\n".join(lines) + "\n"


def plot(report: CanaryReport) -> bytes | None:
    """A horizontal bar chart of the largest shifts, in published standard deviations."""
    shifts = biggest_shifts(report.comparisons, PLOT_LIMIT)
    if not shifts:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, _ in shifts][::-1]
    values = [min(s.shift, 1e6) for _, s in shifts][::-1]
    figure, axis = plt.subplots(figsize=(8, 0.4 * len(names) + 1.4))
    axis.barh(names, values, color="#c0504d")
    axis.axvline(report.tolerance.max_distribution_shift, color="black", linestyle="--", linewidth=1)
    axis.set_xlabel("largest move of mean or a quantile, in published std devs", fontsize=8)
    axis.set_title(f"canary {report.canary_id}: biggest distribution shifts", fontsize=9)
    axis.tick_params(labelsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def write_report(report: CanaryReport, storage: LakeStorage, out_dir: Path | None) -> dict[str, str]:
    """Write the report files locally (if `out_dir`) and into the canary's lake folder."""
    files = {
        JSON_FILE: json.dumps(report.to_dict(), indent=2, default=str).encode(),
        MARKDOWN_FILE: markdown(report).encode(),
    }
    image = plot(report)
    if image is not None:
        files[PLOT_FILE] = image
    written: dict[str, str] = {}
    prefix = canary_prefix(report.canary_id)
    for name, data in files.items():
        storage.write_bytes(f"{prefix}/{name}", data)
        written[name] = storage.uri(f"{prefix}/{name}")
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / name).write_bytes(data)
            written[name] = str(out_dir / name)
    return written
