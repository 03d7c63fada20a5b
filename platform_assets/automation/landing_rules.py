"""What a name in landing/ is, and when a landed file is complete enough to ingest.

Two conventions let a source hand over a file safely, chosen per dataset in
automation.toml (`[landing] completion`, `[landing.datasets.<name>] completion`):

* `atomic` (the default): the source writes elsewhere (or under a temporary name:
  a leading `.` or `.tmp` in the name) and renames the finished file into place, so
  any file with a landing name is complete. S3 PUTs are atomic by nature.
* `stable`: for sources that write in place. A file is complete when its size and
  modification time (its ETag on S3) are unchanged across two sensor ticks.
* `marker`: the source writes `<file><marker_suffix>` (default `.done`) after the
  file, like Hadoop's `_SUCCESS`. A file is complete when its marker exists and is
  not older than the file (a rewrite after the marker is a new, unfinished write).

A file that is not complete yet is *pending*: reported, neither ingested nor
rejected. Everything else that is not a landing file is rejected, with a reason
that says what is wrong with the name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

COMPLETION_RULES = ("atomic", "stable", "marker")
DEFAULT_MARKER_SUFFIX = ".done"
_DAY_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})\.([A-Za-z0-9]+)$")
_DAY_LIKE = re.compile(r"^(\d{1,4})-(\d{1,2})-(\d{1,2})\.([A-Za-z0-9]+)$")


class CompletionRuleError(ValueError):
    """A completion rule in automation.toml that the sensor could not apply."""


@dataclass(frozen=True)
class CompletionRule:
    """How the sensor knows one dataset's landed file is finished."""

    rule: str = "atomic"
    marker_suffix: str = DEFAULT_MARKER_SUFFIX

    def __post_init__(self) -> None:
        if self.rule not in COMPLETION_RULES:
            raise CompletionRuleError(
                f"completion = {self.rule!r} is not one of {', '.join(COMPLETION_RULES)}"
            )
        suffix = self.marker_suffix
        if not suffix or "/" in suffix or suffix.strip() != suffix or is_temporary(f"x{suffix}"):
            raise CompletionRuleError(
                f"marker_suffix = {suffix!r} must be a non-empty file name ending without '/', "
                "spaces or '.tmp' (for example '.done')"
            )

    def marker_of(self, name: str) -> str | None:
        """The data file a marker name stands for, or None when `name` is not a marker."""
        if (
            self.rule == "marker"
            and name.endswith(self.marker_suffix)
            and len(name) > len(self.marker_suffix)
        ):
            return name[: -len(self.marker_suffix)]
        return None


def is_temporary(name: str) -> bool:
    """A name an atomic writer uses before its rename (`.x.csv.swp`, `x.csv.tmp-1a2b`, `x.tmp`)."""
    return name.startswith(".") or ".tmp" in name


def day_file_problem(name: str, ext: str, partitions: object | None) -> tuple[str | None, str | None]:
    """`(day, None)` for a landing file name `YYYY-MM-DD.<ext>`, else `(None, what is wrong)`.

    `partitions` is the raw asset's partitions definition (anything with
    `has_partition_key`), so a real day outside the asset's range is named as such."""
    match = _DAY_NAME.match(name)
    if match is None:
        loose = _DAY_LIKE.match(name)
        if loose is not None:
            return None, f"the date is not written YYYY-MM-DD (expected a name like 2013-01-05.{ext})"
        return None, f"not a landing file name: expected YYYY-MM-DD.{ext}"
    day, found_ext = match.groups()
    if found_ext != ext:
        return None, f"extension .{found_ext}: this dataset lands .{ext} files"
    try:
        date.fromisoformat(day)
    except ValueError:
        return None, f"{day} is not a calendar date"
    if partitions is not None and not partitions.has_partition_key(day):  # type: ignore[attr-defined]
        return None, f"{day} is outside the dataset's partitions"
    return day, None
