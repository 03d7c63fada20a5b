"""When a curated or serving partition is rebuilt without anyone clicking.

Two reasons to rebuild, one set of brakes:

* **Propagation.** A parent partition was updated since this partition was last
  requested or updated. Dagster's `eager()` would do, except that it only looks
  at the latest time window: our partitions are historical days (a replayed or
  corrected 2013-02-01 must flow through too), so the condition covers every
  partition whose parents exist.
* **Freshness.** The asset fails its freshness policy *and* a parent has data newer
  than this partition: "stale because we did not rebuild" (the rebuild run failed,
  or the automation sensor was off). Requested once per time the asset enters that
  state, so a rebuild that keeps failing does not become a loop; the run-failure
  alert covers it. "Stale because nothing new landed" is not a rebuild at all: no
  parent is newer, so nothing is requested, and the freshness alert sensor pages
  someone to look at the source (see `alerts.py`).

The brakes: nothing is requested while a parent is missing, is running, is being
requested on this same tick (it would run in a separate run and the child would
read the old parent), or has a failed blocking check (its audit failed: the new
version was not published, and the child must not be built on top of the gap)."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from platform_assets.automation.config import ZoneFreshness

AC = dg.AutomationCondition
ZONE_TAG = "zone"
RAW_ZONE = "raw"
# Zones rebuilt by automation when their parents change; raw follows the landing sensor.
PROPAGATED_ZONES = ("curated", "serving")


def parents_updated() -> dg.AutomationCondition:
    """A parent partition was updated by a run other than one that also built this one.

    Unlike `any_deps_updated()` this ignores parents merely requested on the same tick:
    those run separately (different partitions definitions never share a run), so the
    child waits for the parent's materialization instead of racing it."""
    return AC.any_deps_match(
        (AC.newly_updated() & ~AC.executed_with_root_target()).with_label("updated_by_another_run")
    ).with_label("parents_updated")


def parents_ready() -> dg.AutomationCondition:
    """Every parent exists, none is running or about to run, and all passed their audits.

    "Running" means a run in progress, not a backfill: the backfill daemon marks a
    backfill done up to 30 seconds after its last run, and waiting on that bookkeeping
    would add the delay once per zone.

    Audits are Dagster checks without partitions, so Dagster keeps one verdict per
    asset (its latest audit): one failed day holds back the children of every day of
    that asset until an audit passes again. Conservative, never unsafe: a child built
    later reads the failed day's previously published version, or fails loudly.
    Declarative automation cannot see a check's severity: any failure of a check
    declared blocking holds children back, so a check that can only warn should not
    be declared blocking (at run time Dagster blocks on ERROR failures only)."""
    return (
        ~AC.any_deps_missing()
        & ~AC.any_deps_match(AC.will_be_requested()).with_label("parent_requested_this_tick")
        & ~AC.any_deps_match(AC.run_in_progress()).with_label("parent_running")
        & AC.all_deps_blocking_checks_passed()
        & ~AC.in_progress()
    ).with_label("parents_ready")


def propagate() -> dg.AutomationCondition:
    """Rebuild a partition after its parents changed, once they are ready."""
    return (parents_updated().since_last_handled() & parents_ready()).with_label("propagate")


def stale_behind_parents() -> dg.AutomationCondition:
    """Failing freshness while some parent was updated after this partition last was."""
    newer_parent = parents_updated().since(AC.newly_updated()).with_label("parent_newer_than_self")
    return (AC.freshness_failed() & newer_parent).with_label("stale_behind_parents")


def propagate_or_refresh() -> dg.AutomationCondition:
    """Propagation, plus one rebuild each time the asset goes stale behind its parents."""
    refresh = stale_behind_parents().newly_true().since_last_handled().with_label("refresh_stale")
    return ((parents_updated().since_last_handled() | refresh) & parents_ready()).with_label(
        "propagate_or_refresh"
    )


def zone_of(spec: dg.AssetSpec) -> str | None:
    return spec.tags.get(ZONE_TAG)


def apply_platform_policies(spec: dg.AssetSpec, freshness: Mapping[str, ZoneFreshness]) -> dg.AssetSpec:
    """A spec with its zone's automation condition and freshness policy.

    Applied once to every asset in `definitions.py`; a condition or policy an asset
    declared itself is kept, so a domain can opt one asset out or tighten it."""
    zone = zone_of(spec)
    if zone not in PROPAGATED_ZONES:
        return spec
    policy = spec.freshness_policy
    if policy is None and zone in freshness:
        policy = freshness[zone].policy()
    condition = spec.automation_condition
    if condition is None:
        condition = propagate_or_refresh() if policy is not None else propagate()
    return spec.replace_attributes(automation_condition=condition, freshness_policy=policy)
