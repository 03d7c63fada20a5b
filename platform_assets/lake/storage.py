"""One filesystem for the lake: a local folder or an S3 bucket, behind the same calls.

Everything above this module speaks in lake-relative paths (`curated/flights/...`);
only here do they become local paths or bucket keys. pyarrow's filesystems are used
for both because s3fs cannot be installed beside current boto3, and because the
same object then feeds Parquet reads with column and row-group pushdown."""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from platform_assets.settings import Settings


class LakePathError(ValueError):
    """A lake-relative path that could escape the lake root or is malformed."""


@dataclass(frozen=True)
class LakeFile:
    path: str  # lake-relative
    size: int
    mtime_ns: int | None


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

    def __init__(self, fs: pafs.FileSystem, root: str, url: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url.rstrip("/")
        self.is_local = isinstance(fs, pafs.LocalFileSystem)

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeStorage:
        return cls.from_url(
            settings.lake_url,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            retries=settings.storage_retries,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        retries: int = 5,
    ) -> LakeStorage:
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise LakePathError(f"an S3 lake URL needs a bucket: {url!r}")
            root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            kwargs: dict[str, object] = {
                "region": region,
                "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=retries),
            }
            if endpoint_url:
                endpoint = urlparse(endpoint_url)
                kwargs["endpoint_override"] = endpoint.netloc or endpoint.path
                kwargs["scheme"] = endpoint.scheme or "https"
            return cls(pafs.S3FileSystem(**kwargs), root, f"s3://{root}")
        if parsed.scheme in ("", "file"):
            local = Path(parsed.path if parsed.scheme == "file" else url).expanduser().resolve()
            return cls(pafs.LocalFileSystem(), str(local), local.as_uri())
        raise LakePathError(f"unsupported lake URL scheme {parsed.scheme!r} in {url!r}")

    def full_path(self, rel: str) -> str:
        """The path as the underlying filesystem knows it."""
        return f"{self.root}/{check_relative_path(rel)}"

    def uri(self, rel: str) -> str:
        return f"{self.url}/{check_relative_path(rel)}"

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.full_path(rel)).type != pafs.FileType.NotFound

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.full_path(rel)) as stream:
            return stream.read()

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a whole object so that readers see either the old bytes or the new.

        S3 PUTs are atomic by nature; a local write goes to a temporary name in the
        same folder and is renamed over the target."""
        target = self.full_path(rel)
        if not self.is_local:
            with self.fs.open_output_stream(target) as stream:
                stream.write(data)
            return
        self.fs.create_dir(posixpath.dirname(target), recursive=True)
        temporary = f"{target}.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open_output_stream(temporary) as stream:
                stream.write(data)
            self.fs.move(temporary, target)
        finally:
            if self.fs.get_file_info(temporary).type != pafs.FileType.NotFound:
                self.fs.delete_file(temporary)

    def prepare_dir(self, rel: str) -> None:
        """Create a folder where the filesystem needs folders (local only)."""
        if self.is_local:
            self.fs.create_dir(self.full_path(rel), recursive=True)

    def list_names(self, rel: str) -> list[str]:
        """Names directly under a folder, sorted; empty when it does not exist."""
        selector = pafs.FileSelector(self.full_path(rel), allow_not_found=True, recursive=False)
        return sorted(posixpath.basename(info.path) for info in self.fs.get_file_info(selector))

    def list_files(self, rel: str, recursive: bool = True) -> Iterator[LakeFile]:
        selector = pafs.FileSelector(self.full_path(rel), allow_not_found=True, recursive=recursive)
        prefix_len = len(self.root) + 1
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                yield LakeFile(info.path[prefix_len:], info.size or 0, info.mtime_ns)

    def file_info(self, rel: str) -> LakeFile | None:
        info = self.fs.get_file_info(self.full_path(rel))
        if info.type != pafs.FileType.File:
            return None
        return LakeFile(rel, info.size or 0, info.mtime_ns)

    def delete_dir(self, rel: str) -> None:
        path = self.full_path(rel)
        if self.fs.get_file_info(path).type != pafs.FileType.NotFound:
            self.fs.delete_dir(path)
