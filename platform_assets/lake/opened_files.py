"""A pyarrow filesystem that passes every call to a real one and remembers which files were opened.

A query engine given a dataset decides for itself which files to open (partition
pruning, early stops); the only truthful record of what a query read is the
filesystem's. Files are handed back as the real filesystem's native files, so
reads cost nothing extra: only the open is seen."""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs


class OpenedFiles(pafs.FileSystemHandler):
    """Delegates to `inner`; `opened` holds the path of every file opened for reading."""

    def __init__(self, inner: pafs.FileSystem) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self.opened: set[str] = set()

    def filesystem(self) -> pafs.FileSystem:
        return pafs.PyFileSystem(self)

    def _seen(self, path: str) -> None:
        with self._lock:
            self.opened.add(path)

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __ne__(self, other: Any) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)

    def get_type_name(self) -> str:
        return f"opened+{self.inner.type_name}"

    def normalize_path(self, path: str) -> str:
        return self.inner.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.inner.get_file_info(selector)

    def open_input_stream(self, path: str) -> pa.NativeFile:
        self._seen(path)
        return self.inner.open_input_stream(path)

    def open_input_file(self, path: str) -> pa.NativeFile:
        self._seen(path)
        return self.inner.open_input_file(path)

    def _read_only(self, *args: object, **kwargs: object) -> None:
        raise PermissionError("the catalog reads the lake; it never writes it")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only
