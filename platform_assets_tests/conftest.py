"""Shared fixtures: a lake on a temporary folder or on a real S3 endpoint (moto's server)."""

from __future__ import annotations

import faulthandler
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from platform_assets.lake.resources import LakeResource
from platform_assets.lake.storage import LakeStorage
from platform_assets.lake.versions import VersionStore
from platform_assets_tests.webhook import webhook  # noqa: F401 - fixture for the automation tests

S3_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


# pytest-timeout raises in Python, which a thread that holds the GIL while it waits in C
# code forbids for ever; faulthandler's watchdog is a C thread. A minute after the test's
# pytest-timeout limit (600 s in pyproject.toml, or its own mark) it prints every thread's
# stack and ends the worker, so CI fails with the stuck stacks instead of running out its
# 90 minutes.
HARD_TIMEOUT_GRACE_S = 60.0


def _timeout_s(item: pytest.Item) -> float:
    mark = item.get_closest_marker("timeout")
    if mark is not None and mark.args:
        return float(mark.args[0])
    return float(item.config.getoption("timeout") or 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    limit = _timeout_s(item)
    if limit > 0:
        faulthandler.dump_traceback_later(limit + HARD_TIMEOUT_GRACE_S, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test may see the developer's lake, credentials or Dagster home."""
    saved = dict(os.environ)
    for name in ("PLATFORM_LAKE_URL", "PLATFORM_ENV", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(S3_TEST_ENV)
    # Tests act as the ambient identity unless they set up per-identity profiles themselves.
    os.environ["PLATFORM_IDENTITY_PROFILE"] = ""
    os.environ["DAGSTER_HOME"] = str(tmp_path_factory.mktemp("dagster_home"))
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port: real HTTP, no patching
    (conditional writes made atomic, as on S3: see moto_s3.py)."""
    from platform_assets_tests.moto_s3 import S3Server

    port = free_port()
    server = S3Server(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def make_bucket(endpoint: str) -> str:
    """A bucket with default SSE-S3, as AWS creates them, so staging and prod lakes accept it."""
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return bucket


@dataclass
class Lake:
    """A lake under test: its resource, storage and version store."""

    kind: str
    url: str
    endpoint_url: str | None

    @property
    def resource(self) -> LakeResource:
        return LakeResource(lake_url=self.url, endpoint_url=self.endpoint_url)

    @property
    def storage(self) -> LakeStorage:
        return self.resource.storage()

    @property
    def versions(self) -> VersionStore:
        return self.resource.versions()

    def env(self) -> dict[str, str]:
        env = {"PLATFORM_LAKE_URL": self.url}
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env


def local_lake(root: Path) -> Lake:
    return Lake("local", str(root / "lake"), None)


def s3_lake(endpoint: str) -> Lake:
    return Lake("s3", f"s3://{make_bucket(endpoint)}/platform", endpoint)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """The same test against a local folder and against S3."""
    if request.param == "local":
        return local_lake(tmp_path)
    return s3_lake(request.getfixturevalue("s3_endpoint"))


# Imported last: it builds on the fixtures above. Shared by the promotion and canary tests.
from platform_assets_tests.staged_lake import staged_lake  # noqa: E402, F401
