"""A landed day through every zone in one run, instead of one run per zone.

Each run costs a queue wait, a process start and a code load before any work; a day
that went raw -> curated -> serving in three runs (each started by a sensor tick)
paid that three times. The landing sensor therefore asks for one run that ingests
the landed files and builds every curated and serving asset of the same days that
can be built from them, in dependency order, audits included (a failed blocking
audit still stops what is downstream of it, within the run).

An asset joins the run when a parent it reads is in the run and every other parent
is already published: unpartitioned parents (reference tables) and parents of the same
partitions for every day of the run. Otherwise (a first landing before the reference
tables were ever built, a day whose other dataset has not landed yet, a parent with
other partitions such as a weekly model) it is left to the automation sensors, which
build it when its parents are ready, as before. Nothing here knows a domain: the plan
is read from the assets' own dependencies and `zone` tags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg

from platform_assets.automation.conditions import PROPAGATED_ZONES, ZONE_TAG
from platform_assets.lake.storage import LakeIntegrityError
from platform_assets.lake.versions import VersionStore

THROUGH_ZONES_TAG = "platform/through_zones"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class ZonePlan:
    """The downstream assets a landing run may carry, and what each reads.

    `order` is topological, so one pass over it settles each asset after its parents;
    `partitions` holds every known asset's partitions definition (None: unpartitioned)."""

    order: tuple[dg.AssetKey, ...]
    parents: Mapping[dg.AssetKey, frozenset[dg.AssetKey]]
    partitions: Mapping[dg.AssetKey, Any]


def zone_plan(assets: Iterable[Any]) -> ZonePlan:
    """The curated and serving assets with partitions, in dependency order."""
    specs = [spec for a in assets if isinstance(a, dg.AssetsDefinition) for spec in a.specs]
    partitions = {spec.key: spec.partitions_def for spec in specs}
    parents = {
        spec.key: frozenset(dep.asset_key for dep in spec.deps)
        for spec in specs
        if spec.tags.get(ZONE_TAG) in PROPAGATED_ZONES
        and spec.partitions_def is not None
        # a parent with other partitions (a weekly model) maps days its own way: automation's job
        and all(partitions.get(d.asset_key) in (None, spec.partitions_def) for d in spec.deps)
    }
    order: list[dg.AssetKey] = []
    placed: set[dg.AssetKey] = set()
    pending = sorted(parents, key=lambda k: k.to_user_string())
    while pending:
        ready = [k for k in pending if not (parents[k] & set(pending)) - placed]
        if not ready:  # a cycle cannot be planned; leave those assets to automation
            break
        order.extend(ready)
        placed.update(ready)
        pending = [k for k in pending if k not in placed]
    return ZonePlan(tuple(order), {k: parents[k] for k in order}, partitions)


def _days(request: dg.RunRequest) -> list[str]:
    if request.partition_key:
        return [request.partition_key]
    start, end = request.tags.get(RANGE_START_TAG), request.tags.get(RANGE_END_TAG)
    if not start or not end:
        return []
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


class _Published:
    """Whether a parent partition is published, each pointer read at most once per tick."""

    def __init__(self, store: VersionStore) -> None:
        self.store = store
        self.known: dict[tuple[dg.AssetKey, str | None], bool] = {}

    def __call__(self, key: dg.AssetKey, partition: str | None) -> bool:
        if (key, partition) not in self.known:
            try:
                found = self.store.pointer(key.path, partition) is not None
            except LakeIntegrityError:
                found = False  # a damaged pointer: leave the child to automation, which reports it
            self.known[(key, partition)] = found
        return self.known[(key, partition)]


def through_zones(
    requests: Sequence[dg.RunRequest], plan: ZonePlan, store: VersionStore
) -> list[dg.RunRequest]:
    """Each daily landing request widened to every downstream asset its days can build now."""
    published = _Published(store)
    out = []
    for request in requests:
        days = _days(request)
        selected = list(request.asset_selection or [])
        if not days or not selected:
            out.append(request)
            continue
        day_partitions = plan.partitions.get(selected[0])
        added = []
        for key in plan.order:
            if plan.partitions[key] != day_partitions or not plan.parents[key] & set(selected):
                continue  # other partitions, or nothing it reads is in this run
            if all(
                _ready(parent, selected, days, day_partitions, plan, published)
                for parent in plan.parents[key]
            ):
                selected.append(key)
                added.append(key)
        if not added:
            out.append(request)
            continue
        tags = {**request.tags, THROUGH_ZONES_TAG: ",".join(k.to_user_string() for k in added)}
        out.append(request.with_replaced_attrs(asset_selection=selected, tags=tags))
    return out


def _ready(
    parent: dg.AssetKey,
    selected: list[dg.AssetKey],
    days: list[str],
    day_partitions: Any,
    plan: ZonePlan,
    published: _Published,
) -> bool:
    if parent in selected:
        return True
    if parent not in plan.partitions:
        return False  # not an asset of this code location: nothing says it is there
    partitions = plan.partitions[parent]
    if partitions is None:
        return published(parent, None)
    return partitions == day_partitions and all(published(parent, day) for day in days)
