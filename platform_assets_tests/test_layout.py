from datetime import UTC, datetime

import pytest

from platform_assets.lake import layout
from platform_assets.lake.storage import LakePathError, check_relative_path


@pytest.mark.parametrize(
    "key", ["../../etc", "2013-13-45", "2013-02-30", "2013-1-1", "", "2013-01-01/../x", "2013-01-01 "]
)
def test_bad_partition_keys_are_refused(key: str) -> None:
    with pytest.raises(layout.PartitionKeyError):
        layout.validate_partition_key(key)
    with pytest.raises(layout.PartitionKeyError):
        layout.partition_path(["curated", "flights"], key)


def test_partition_key_outside_allowed_set() -> None:
    with pytest.raises(layout.PartitionKeyError, match="outside"):
        layout.validate_partition_key("2014-01-01", allowed=["2013-12-31"])


def test_layout_paths() -> None:
    assert layout.partition_path(["curated", "flights"], "2013-01-01") == "curated/flights/date=2013-01-01"
    assert layout.partition_path(["curated", "planes"], None) == "curated/planes"
    version = layout.new_version_id("abc-123", datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert version == "20260102T030405000006Z-abc123"
    assert layout.version_path(["raw", "flights"], "2013-01-01", version).endswith(f"/v={version}")


@pytest.mark.parametrize("key", [["flights"], ["gold", "x"], ["curated", "../x"], ["curated", "Flights"]])
def test_asset_keys_that_cannot_be_paths(key: list[str]) -> None:
    with pytest.raises(layout.AssetPathError):
        layout.asset_path(key)


def test_version_ids_sort_by_time() -> None:
    early = layout.new_version_id("zzzz", datetime(2026, 1, 1, tzinfo=UTC))
    late = layout.new_version_id("aaaa", datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC))
    assert sorted([late, early]) == [early, late]
    assert layout.version_time(late) > layout.version_time(early)


@pytest.mark.parametrize("path", ["/etc/passwd", "a/../b", "", "a//b", "./a"])
def test_relative_paths_cannot_escape(path: str) -> None:
    with pytest.raises(LakePathError):
        check_relative_path(path)
