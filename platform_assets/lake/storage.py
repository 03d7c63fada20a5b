"""One filesystem for the lake: a local folder or an S3 bucket, behind the same calls.

Everything above this module speaks in lake-relative paths (`curated/<name>/...`);
only here do they become local paths or bucket keys. pyarrow's filesystems are used
for both because s3fs cannot be installed beside current boto3, and because the
same object then feeds Parquet reads with column and row-group pushdown."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import posixpath
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import pyarrow.fs as pafs

from platform_assets import logs
from platform_assets.lake import local_fs
from platform_assets.lake.access import AMBIENT, S3Identity, access_denied, is_access_denied
from platform_assets.observability import usage
from platform_assets.settings import Settings

T = TypeVar("T")

# Throttling, server errors and broken connections as pyarrow words them in the OSError
# it raises once the AWS SDK's own retries are spent (`AWS Error SLOW_DOWN ...`, `HTTP
# response code: 503`, `curlCode: 56, Failure when receiving data`).
_TRANSIENT = re.compile(
    r"slow.?down|throttl|too many requests|request.?time.?out|service.?unavailable|internal.?(error|failure)"
    r"|response code:? *(429|5\d\d)|\b(429|500|502|503|504)\b|connection (reset|aborted|refused|closed)"
    r"|broken pipe|timed out|curl|network|unable to connect|socket",
    re.IGNORECASE,
)
# Attempts the AWS SDK makes inside one call before pyarrow raises; `storage_retries`
# (platform.toml) then counts whole calls, so a fault costs at most
# SDK_ATTEMPTS * storage_retries requests and a bounded, logged wait.
SDK_ATTEMPTS = 3
# Answers that are facts about the request, never worth asking again.
_PERMANENT = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


class LakePathError(ValueError):
    """A lake-relative path that could escape the lake root or is malformed."""


class PreconditionFailed(RuntimeError):
    """A conditional write lost a race: the object is no longer what the writer read."""


# How often a read-modify-write by compare-and-swap (a pointer, an index shard) re-reads
# and re-applies after losing a race before it gives up with a clear error.
CAS_ATTEMPTS = 50


def cas_backoff(attempt: int) -> None:
    """Wait before re-reading after the `attempt`-th lost race: short and jittered, so
    racing writers spread out instead of colliding again."""
    time.sleep(random.uniform(0.002, 0.02) * min(attempt + 1, 10))


def json_bytes(value: Any) -> bytes:
    """A lake JSON object (manifest, pointer, audit record) as stored: keys sorted, compact.

    Compact keeps Python's C encoder (an indented dump runs in pure Python, and a year's
    backfill writes thousands of these); `python -m json.tool` prints one for a person."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


class LakeIntegrityError(RuntimeError):
    """An object in the lake is not what its metadata says: torn, corrupt or replaced.

    Always names the object, so the person reading the message knows where to look."""


@dataclass(frozen=True)
class LakeFile:
    path: str  # lake-relative
    size: int
    mtime_ns: int | None


def is_transient(error: BaseException) -> bool:
    """Whether asking again later could succeed: throttling, 5xx and dropped connections."""
    if isinstance(error, _PERMANENT):
        return False
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    return isinstance(error, OSError) and bool(_TRANSIENT.search(str(error)))


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and exponential backoff (with jitter) for transient storage faults.

    This sits above the AWS SDK's own retries: those absorb a blip inside one call,
    these outlast a throttling episode or an endpoint restart that outlives them."""

    attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay_s, self.base_delay_s * 2**attempt) * random.uniform(0.5, 1.0)


def check_relative_path(rel: str) -> str:
    """Refuse paths that are absolute, empty or climb out of the lake."""
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        raise LakePathError(f"not a lake-relative path: {rel!r}")
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise LakePathError(f"not a lake-relative path: {rel!r}")
    return rel


class LakeStorage:
    """Bytes and listings under one lake root, local or S3."""

    def __init__(
        self,
        fs: pafs.FileSystem,
        root: str,
        url: str,
        retry: RetryPolicy | None = None,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        is_local: bool | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url.rstrip("/")
        # A wrapping filesystem (tests count bytes through one) says which kind it wraps.
        self.is_local = isinstance(fs, pafs.LocalFileSystem) if is_local is None else is_local
        self.retry = retry or RetryPolicy()
        self.endpoint_url = endpoint_url
        self.region = region
        self.ca_bundle = ca_bundle
        self._client: Any = None
        # Governance (platform_assets.governance): who we are, and the SSE every S3 PUT requests.
        self.identity: S3Identity = AMBIENT
        self.sse: dict[str, str] = {}

    def retrying(self, operation: str, rel: str, call: Callable[[], T]) -> T:
        """Run one storage call, again after a backoff while it fails transiently.

        Every call here is idempotent (whole-object reads and writes, listings), which
        is what makes repeating it safe; callers reading through `fs` directly (Parquet
        datasets) wrap their read in this too."""
        call = usage.counted(operation, call)  # requests, retries and errors reach the exporter
        for attempt in range(self.retry.attempts):
            try:
                return call()
            except Exception as error:
                if is_access_denied(error):  # governance: name identity, action and path
                    raise access_denied(error, self.identity, operation, self._uri_or_path(rel)) from None
                if not isinstance(error, OSError):
                    raise
                if not is_transient(error) or attempt + 1 >= self.retry.attempts:
                    raise
                delay = self.retry.delay(attempt)
                logs.emit(
                    "storage_retry",
                    level=logging.WARNING,
                    operation=operation,
                    path=rel,
                    attempt=attempt + 1,
                    delay_s=round(delay, 3),
                    error=str(error)[:300],
                )
                time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _uri_or_path(self, rel: str) -> str:
        try:
            return self.uri(rel)
        except LakePathError:
            return rel

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeStorage:
        """The lake of `settings` after the start-up checks (encryption, region)."""
        from platform_assets.governance.guard import open_lake

        return open_lake(settings)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        retries: int = 5,
        ca_bundle: str | None = None,
        identity: S3Identity = AMBIENT,
    ) -> LakeStorage:
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise LakePathError(f"an S3 lake URL needs a bucket: {url!r}")
            root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            kwargs: dict[str, object] = {
                "region": region,
                "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=SDK_ATTEMPTS),
            }
            if endpoint_url:
                endpoint = urlparse(endpoint_url)
                kwargs["endpoint_override"] = endpoint.netloc or endpoint.path
                kwargs["scheme"] = endpoint.scheme or "https"
            if ca_bundle:  # a private CA (AWS_CA_BUNDLE), as boto3 is given it
                kwargs["tls_ca_file_path"] = ca_bundle
            kwargs.update(identity.pyarrow_kwargs())  # governance: act as the resolved identity
            storage = cls(
                pafs.S3FileSystem(**kwargs),
                root,
                f"s3://{root}",
                RetryPolicy(attempts=retries),
                endpoint_url=endpoint_url,
                region=region,
                ca_bundle=ca_bundle,
            )
            storage.identity = identity
            return storage
        if parsed.scheme in ("", "file"):
            local = Path(parsed.path if parsed.scheme == "file" else url).expanduser().resolve()
            return cls(pafs.LocalFileSystem(), str(local), local.as_uri(), RetryPolicy(attempts=retries))
        raise LakePathError(f"unsupported lake URL scheme {parsed.scheme!r} in {url!r}")

    def full_path(self, rel: str) -> str:
        """The path as the underlying filesystem knows it; locally, never through a link."""
        if self.is_local:
            return local_fs.refuse_links(self.root, check_relative_path(rel))
        return f"{self.root}/{check_relative_path(rel)}"

    def uri(self, rel: str) -> str:
        return f"{self.url}/{check_relative_path(rel)}"

    def exists(self, rel: str) -> bool:
        path = self.full_path(rel)
        info = self.retrying("exists", rel, lambda: self.fs.get_file_info(path))
        return info.type != pafs.FileType.NotFound

    def read_bytes(self, rel: str) -> bytes:
        """The whole object, or FileNotFoundError.

        On S3 this is one GET checked against its Content-Length: pyarrow's input
        stream was seen returning truncated or mixed bytes for a small object that
        another process was rewriting; a single GET never was."""
        found = self.read_object(rel)
        if found is None:
            raise FileNotFoundError(f"{self.uri(rel)} does not exist")
        return found[0]

    def read_object(self, rel: str) -> tuple[bytes, str] | None:
        """(bytes, token) of a whole object, None when it does not exist.

        The token is what a conditional write compares against: the S3 ETag, or the
        SHA-256 of a local file's bytes."""
        path = self.full_path(rel)
        if not self.is_local:
            return self.retrying("read", rel, lambda: self._s3_get(rel))

        def read_local() -> tuple[bytes, str] | None:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                return None
            return data, hashlib.sha256(data).hexdigest()

        return self.retrying("read", rel, read_local)

    def write_object_if(self, rel: str, data: bytes, *, expected: str | None) -> str:
        """Write the whole object only if it is still what the writer read; return the new token.

        `expected` is the token from `read_object`, or None to create an object that
        must not exist yet. A lost race raises `PreconditionFailed` and never overwrites:
        on S3 through `If-Match` / `If-None-Match: *`; locally a create is a hard link of
        a complete temporary file (which fails if the name exists), and a replace happens
        under an exclusive lock on a sibling lock file that every replacing writer takes."""
        path = self.full_path(rel)
        if not self.is_local:
            return self.retrying("write", rel, lambda: self._s3_put_if(rel, data, expected))
        local_fs.make_dirs(self.root, posixpath.dirname(rel))
        if expected is None:
            self._create_local(rel, path, data)
            return hashlib.sha256(data).hexdigest()
        with local_fs.open_lock(f"{path}.lock") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                current = self.read_object(rel)
                if (None if current is None else current[1]) != expected:
                    raise PreconditionFailed(f"{self.uri(rel)} changed since it was read")
                self.write_bytes(rel, data)
                return hashlib.sha256(data).hexdigest()
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _create_local(self, rel: str, path: str, data: bytes) -> None:
        temporary = f"{path}.tmp-{uuid.uuid4().hex}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, local_fs.FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), local_fs.FILE_MODE)
                out.write(data)
            os.link(temporary, path)
        except FileExistsError:
            raise PreconditionFailed(f"{self.uri(rel)} exists already") from None
        finally:
            os.unlink(temporary)

    def _s3_client(self) -> Any:
        """boto3 for what pyarrow's filesystem cannot do: single-request reads and
        conditional writes. Created on first use, in the process that uses it."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                verify=self.ca_bundle or None,
                config=Config(retries={"max_attempts": SDK_ATTEMPTS, "mode": "standard"}),
                **self.identity.boto3_kwargs(),  # governance: the same identity as `fs`
            )
        return self._client

    def _bucket_key(self, rel: str) -> tuple[str, str]:
        bucket, _, key = self.full_path(rel).partition("/")
        return bucket, key

    def _s3_get(self, rel: str) -> tuple[bytes, str] | None:
        bucket, key = self._bucket_key(rel)
        try:
            response = self._s3_client().get_object(Bucket=bucket, Key=key)
            data = response["Body"].read()
        except Exception as error:  # noqa: BLE001 - mapped to the storage vocabulary below
            if _s3_code(error) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise _as_storage_error(error, self.uri(rel)) from error
        length = response.get("ContentLength")
        if length is not None and length != len(data):
            raise OSError(f"connection closed: short read of {self.uri(rel)} ({len(data)} of {length} bytes)")
        return data, str(response.get("ETag", ""))

    def _s3_put_if(self, rel: str, data: bytes, expected: str | None) -> str:
        bucket, key = self._bucket_key(rel)
        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            response = self._s3_client().put_object(
                Bucket=bucket, Key=key, Body=data, **condition, **self.sse
            )
        except Exception as error:  # noqa: BLE001 - mapped to the storage vocabulary below
            if _s3_code(error) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                raise PreconditionFailed(f"{self.uri(rel)} changed since it was read") from None
            raise _as_storage_error(error, self.uri(rel)) from error
        return str(response.get("ETag", ""))

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a whole object so that readers see either the old bytes or the new.

        S3 PUTs are atomic by nature; a local write goes to a temporary name in the
        same folder and is renamed over the target."""
        target = self.full_path(rel)
        if not self.is_local:
            self.retrying("write", rel, lambda: self._put(target, data))
            return
        local_fs.make_dirs(self.root, posixpath.dirname(rel))
        temporary = f"{target}.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open_output_stream(temporary) as stream:
                stream.write(data)
            os.chmod(temporary, local_fs.FILE_MODE)
            self.fs.move(temporary, target)
        finally:
            if self.fs.get_file_info(temporary).type != pafs.FileType.NotFound:
                self.fs.delete_file(temporary)

    def _put(self, target: str, data: bytes) -> None:
        if self.sse:  # governance: pyarrow cannot ask for SSE per request; boto3 can
            bucket, key = target.split("/", 1)
            try:
                self._s3_client().put_object(Bucket=bucket, Key=key, Body=data, **self.sse)
            except Exception as error:  # noqa: BLE001 - mapped to the storage vocabulary below
                raise _as_storage_error(error, f"s3://{target}") from error
            return
        with self.fs.open_output_stream(target) as stream:
            stream.write(data)

    def s3_client(self) -> Any:
        """boto3 acting as the same identity as `fs`, for governance checks and tests."""
        return self._s3_client()

    def prepare_dir(self, rel: str) -> None:
        """Create a folder where the filesystem needs folders (local only)."""
        if self.is_local:
            local_fs.make_dirs(self.root, check_relative_path(rel))

    def list_names(self, rel: str) -> list[str]:
        """Names directly under a folder, sorted; empty when it does not exist (links left out)."""
        if self.is_local:
            return sorted(
                e.rel.rsplit("/", 1)[1]
                for e in local_fs.entries(self.root, check_relative_path(rel))
                if e.kind != "link"
            )
        selector = pafs.FileSelector(self.full_path(rel), allow_not_found=True, recursive=False)
        infos = self.retrying("list", rel, lambda: self.fs.get_file_info(selector))
        return sorted(posixpath.basename(info.path) for info in infos)

    def list_files(self, rel: str, recursive: bool = True) -> Iterator[LakeFile]:
        """Regular files under a folder; locally links are neither listed nor entered."""
        if self.is_local:
            for entry in local_fs.entries(self.root, check_relative_path(rel), recursive):
                if entry.kind == "file":
                    yield LakeFile(entry.rel, entry.size, entry.mtime_ns)
            return
        selector = pafs.FileSelector(self.full_path(rel), allow_not_found=True, recursive=recursive)
        prefix_len = len(self.root) + 1
        for info in self.retrying("list", rel, lambda: self.fs.get_file_info(selector)):
            if info.type == pafs.FileType.File:
                yield LakeFile(info.path[prefix_len:], info.size or 0, info.mtime_ns)

    def file_info(self, rel: str) -> LakeFile | None:
        path = self.full_path(rel)
        info = self.retrying("stat", rel, lambda: self.fs.get_file_info(path))
        if info.type != pafs.FileType.File:
            return None
        return LakeFile(rel, info.size or 0, info.mtime_ns)


def _s3_code(error: BaseException) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _as_storage_error(error: BaseException, uri: str) -> OSError:
    """A boto3 failure in the words `is_transient` and the callers understand."""
    code = _s3_code(error)
    status = (getattr(error, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return PermissionError(f"access denied to {uri}: {error}")
    if code == "NoSuchBucket":
        return FileNotFoundError(f"{uri}: no such bucket")
    if status is not None:
        return OSError(f"HTTP response code: {status} ({code}) for {uri}: {error}")
    return OSError(f"network: {type(error).__name__} for {uri}: {error}")
