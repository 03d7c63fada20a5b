"""One staging lake on moto's S3 server, built once per session by the real pipeline.

Promotion and canary tests share it: building even one day of the whole graph is
the slowest part of either, and neither changes what it publishes for good (tests
that publish a variant put the original back)."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from platform_assets_tests.conftest import Lake, s3_lake

STAGED_DAY = "2013-01-03"


@pytest.fixture(scope="session")
def staged_lake(s3_endpoint: str) -> Lake:
    """A staging lake (its `_lake.json` says so) with one January day published end to end."""
    # Imported here: conftest imports this module, and the pipeline imports the code location.
    from platform_assets_tests.pipeline import land_days, materialize_daily, materialize_reference

    lake = s3_lake(s3_endpoint)
    lake.storage.write_bytes("_lake.json", json.dumps({"environment": "staging"}).encode())
    land_days(lake, STAGED_DAY, STAGED_DAY)
    instance = dg.DagsterInstance.ephemeral()
    materialize_reference(lake, instance)
    materialize_daily(lake, instance, STAGED_DAY)
    return lake
