"""A pyarrow filesystem that passes every call to a real one and counts what is read.

Instrumentation, not a mock: the bytes come from the real local folder or S3
endpoint, and the counts are what a reader really pulled through the filesystem."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from platform_assets.lake.storage import LakeStorage


class _CountingFile:
    """The Python file protocol over a native file, adding every byte read to a tally."""

    def __init__(self, handler: CountingHandler, path: str, native: pa.NativeFile) -> None:
        self._handler = handler
        self._path = path
        self._native = native
        self.closed = False

    def read(self, nbytes: int | None = -1) -> bytes:
        data = self._native.read() if nbytes is None or nbytes < 0 else self._native.read(nbytes)
        self._handler.count(self._path, len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._native.seek(offset, whence)

    def tell(self) -> int:
        return self._native.tell()

    def size(self) -> int:
        return self._native.size()

    def close(self) -> None:
        self._native.close()
        self.closed = True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._native.seekable()

    def writable(self) -> bool:
        return False


class CountingHandler(pafs.FileSystemHandler):
    """Delegates to `inner`; records which files were opened and how many bytes each gave."""

    def __init__(self, inner: pafs.FileSystem) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self.bytes_by_path: Counter[str] = Counter()
        self.opened: list[str] = []

    def reset(self) -> None:
        with self._lock:
            self.bytes_by_path.clear()
            self.opened.clear()

    def count(self, path: str, nbytes: int) -> None:
        with self._lock:
            self.bytes_by_path[path] += nbytes

    def _open(self, path: str, native: pa.NativeFile) -> pa.PythonFile:
        with self._lock:
            self.opened.append(path)
        return pa.PythonFile(_CountingFile(self, path, native), mode="r")

    def bytes_read(self, suffix: str = "") -> int:
        return sum(n for p, n in self.bytes_by_path.items() if p.endswith(suffix))

    def opened_files(self, suffix: str = "") -> list[str]:
        return sorted({p for p in self.opened if p.endswith(suffix)})

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __ne__(self, other: Any) -> bool:
        return self is not other

    def get_type_name(self) -> str:
        return f"counting+{self.inner.type_name}"

    def normalize_path(self, path: str) -> str:
        return self.inner.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.inner.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.inner.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.inner.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.inner.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise PermissionError("the counting filesystem never empties a root")

    def delete_file(self, path: str) -> None:
        self.inner.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.inner.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.inner.copy_file(src, dest)

    def open_input_stream(self, path: str) -> pa.PythonFile:
        return self._open(path, self.inner.open_input_stream(path))

    def open_input_file(self, path: str) -> pa.PythonFile:
        return self._open(path, self.inner.open_input_file(path))

    def open_output_stream(self, path: str, metadata: dict[str, str]) -> pa.NativeFile:
        return self.inner.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path: str, metadata: dict[str, str]) -> pa.NativeFile:
        return self.inner.open_append_stream(path, metadata=metadata)


def counting_storage(storage: LakeStorage) -> tuple[LakeStorage, CountingHandler]:
    """The same lake root seen through a counting filesystem."""
    handler = CountingHandler(storage.fs)
    wrapped = LakeStorage(
        pafs.PyFileSystem(handler),
        storage.root,
        storage.url,
        endpoint_url=storage.endpoint_url,
        region=storage.region,
        is_local=storage.is_local,
    )
    return wrapped, handler
