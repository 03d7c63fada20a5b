"""A moto server that enforces IAM, in its own process, with one IAM user per platform identity.

moto counts unauthenticated requests in a class attribute of the process that serves
them, and reads INITIAL_NO_AUTH_ACTION_COUNT once at import: enforcing IAM in the
test process would switch it on for the shared S3 fixture too. A subprocess keeps
the two apart. The first requests (bucket, users, policies, keys) are let through;
`enforce` then spends the rest of the allowance on requests with an unknown key
until the server answers InvalidAccessKeyId, so every later request is checked."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from platform_assets_tests.conftest import S3_TEST_ENV, free_port

NO_AUTH_ALLOWANCE = 80


@dataclass(frozen=True)
class IamServer:
    endpoint: str
    ca_bundle: str  # the server speaks TLS with its own certificate: staging refuses plain http

    def client(self, service: str, **credentials: str) -> Any:
        keys = credentials or {
            "aws_access_key_id": S3_TEST_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": S3_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
        }
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            verify=self.ca_bundle,
            config=Config(retries={"max_attempts": 1}),
            **keys,
        )

    def create_identities(self, policies: Mapping[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
        """One IAM user per identity with its generated policy inline; {identity: (key id, secret)}."""
        iam = self.client("iam")
        keys = {}
        for identity, document in policies.items():
            user = f"platform-{identity}"
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="platform", PolicyDocument=json.dumps(document))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[identity] = (key["AccessKeyId"], key["SecretAccessKey"])
        return keys

    def enforce(self) -> int:
        """Use up the unauthenticated allowance; returns how many requests that took."""
        stranger = self.client("s3", aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x")
        for spent in range(NO_AUTH_ALLOWANCE + 1):
            try:
                stranger.list_buckets()
            except botocore.exceptions.ClientError as error:
                if error.response["Error"]["Code"] == "InvalidAccessKeyId":
                    return spent
                raise
        raise AssertionError("moto never started enforcing IAM")


def write_profiles(path: Path, keys: Mapping[str, tuple[str, str]]) -> Path:
    """An AWS shared-credentials file with one `platform-<identity>` profile per identity."""
    lines = []
    for identity, (key_id, secret) in keys.items():
        lines += [
            f"[platform-{identity}]",
            f"aws_access_key_id = {key_id}",
            f"aws_secret_access_key = {secret}",
            "",
        ]
    path.write_text("\n".join(lines))
    return path


@contextmanager
def iam_enforcing_server(folder: Path) -> Iterator[IamServer]:
    from platform_assets.deploy_stack import make_certificate

    cert, key = make_certificate(folder)
    port = free_port()
    env = {**os.environ, **S3_TEST_ENV, "INITIAL_NO_AUTH_ACTION_COUNT": str(NO_AUTH_ALLOWANCE)}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        + ["--ssl-cert", str(cert), "--ssl-key", str(key)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = IamServer(f"https://127.0.0.1:{port}", str(cert))
    tls = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:  # moto's own API does not count against the allowance
                urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=1, context=tls).read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server with IAM enforcement did not start") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
