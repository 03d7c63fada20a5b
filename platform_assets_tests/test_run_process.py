"""A run's process collects garbage less often than Python's default, as run_process says."""

import gc
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.lake.resources import LakeResource
from platform_assets.lake.run_process import GC_THRESHOLDS, tune_collector


@pytest.fixture
def default_collector() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's default
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _young_collections(work: int) -> int:
    """How many young-generation collections `work` short-lived-but-kept containers cause."""
    gc.collect()
    before = gc.get_stats()[0]["collections"]
    kept = [[i] for i in range(work)]  # containers that stay alive, as a run's frames do
    after = gc.get_stats()[0]["collections"]
    del kept
    return after - before


def test_a_run_with_the_lake_collects_less_often(tmp_path: Path, default_collector: None) -> None:
    assert _young_collections(100_000) > 100  # about one per 700 new containers

    @dg.asset(required_resource_keys={"lake"})
    def touches_the_lake(context: dg.AssetExecutionContext) -> None:
        context.resources.lake.versions()

    result = dg.materialize([touches_the_lake], resources={"lake": LakeResource(lake_url=str(tmp_path))})
    assert result.success
    assert gc.get_threshold() == GC_THRESHOLDS
    assert _young_collections(100_000) <= 100_000 // GC_THRESHOLDS[0] + 1


def test_tuning_never_collects_more_often_nor_turns_collection_on(default_collector: None) -> None:
    gc.set_threshold(50_000, 10, 10)
    tune_collector()
    assert gc.get_threshold() == (50_000, 10, 10)
    gc.set_threshold(0)
    tune_collector()
    assert gc.get_threshold()[0] == 0
