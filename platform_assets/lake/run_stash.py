"""What one step of a run hands to a later step of the same run, in this process.

A run's steps often need what an earlier step already holds: the audit judges the
tables the write step produced, the curated step types the landed files the raw audit
already parsed. Reading them back from the lake would repeat the work, so the earlier
step leaves them here and the later one takes them, once. Only one run's values are
kept at a time (a long-lived process running many runs cannot grow), and a reader that
finds nothing (another process, a check-only run) does the work itself."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class RunStash(Generic[V]):
    """Values by key for the run that left them; taking one removes it."""

    def __init__(self) -> None:
        self._run: str | None = None
        self._values: dict[Hashable, V] = {}

    def hold(self, run_id: str, key: Hashable, value: V) -> None:
        """Keep `value` for a later step of `run_id`; what another run left is dropped."""
        if run_id != self._run:
            self._values.clear()
            self._run = run_id
        self._values[key] = value

    def take(self, key: Hashable) -> V | None:
        """The value held under `key` (its key names whatever makes it valid), once."""
        return self._values.pop(key, None) if self._values else None
