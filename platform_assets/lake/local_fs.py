"""The local lake's guard rails: never through a symbolic link, never looser than owner+group.

Anyone who can create a file in the lake folder (a source system landing files on a
shared disk, say) could otherwise plant a symbolic link and make the platform read,
copy and publish any file its process can read, or write through a link into a
folder outside the lake. So every local path the platform reads, writes or lists is
checked component by component below the lake root: a component that is a symbolic
link is refused (`LakeLinkError`, naming the link and where it points), whether the
link points outside the lake or inside it. Links inside the lake are refused too:
the lake's immutability and audit rest on each path naming its own bytes.

The check runs just before each use (a narrow check-then-use window remains, which a
writer of the lake folder could race; closing it needs `openat` on every call, and
the landing sensor moves links it finds out of the way first).

Permissions: what the platform creates gets mode 0640 (files) and 0750 (folders),
the equivalent of umask 027, set explicitly so a permissive process umask (0000 in
many containers) never makes lake data world-writable or world-readable."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

FILE_MODE = 0o640
DIR_MODE = 0o750
UMASK = 0o027  # what FILE_MODE and DIR_MODE amount to; stated in the README


class LakeLinkError(ValueError):
    """A local lake path that is, or passes through, a symbolic link."""

    def __init__(self, rel: str, link: str, target: str) -> None:
        self.rel = rel
        self.link = link
        self.target = target
        super().__init__(
            f"{link} is a symbolic link to {target}; the lake never follows links (reading {rel})"
        )


@dataclass(frozen=True)
class LocalEntry:
    """One directory entry, seen without following it."""

    rel: str  # lake-relative
    kind: str  # "file", "link", "folder" or "other" (fifo, socket, device)
    size: int
    mtime_ns: int
    target: str | None = None  # where a link points, as written in the link


def link_target(root: str, full: str) -> str:
    """Where a link points, resolved, and whether that is inside the lake: for messages."""
    try:
        written = os.readlink(full)
    except OSError:
        return "(unreadable link)"
    resolved = os.path.realpath(os.path.join(os.path.dirname(full), written))
    inside = resolved == root or resolved.startswith(root + os.sep)
    where = f"inside the lake: {os.path.relpath(resolved, root)}" if inside else "outside the lake"
    return f"{resolved} ({where})"


def refuse_links(root: str, rel: str) -> str:
    """`root/rel`, after checking that no existing component below `root` is a link.

    Components that do not exist yet (a path about to be written) are fine: nothing
    there can be followed."""
    full = root
    for part in rel.split("/"):
        full = f"{full}/{part}"
        try:
            mode = os.lstat(full).st_mode
        except FileNotFoundError:
            return f"{root}/{rel}"
        except NotADirectoryError:
            return f"{root}/{rel}"
        if stat.S_ISLNK(mode):
            raise LakeLinkError(rel, full, link_target(root, full))
    return full


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "other"


def entries(root: str, rel: str, recursive: bool = False) -> Iterator[LocalEntry]:
    """Everything under `root/rel`, without following links (a linked folder is not entered)."""
    base = refuse_links(root, rel)
    try:
        scanned = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in scanned:
        info = entry.stat(follow_symlinks=False)
        kind = _kind(info.st_mode)
        child = f"{rel}/{entry.name}"
        target = link_target(root, entry.path) if kind == "link" else None
        yield LocalEntry(child, kind, info.st_size, info.st_mtime_ns, target)
        if recursive and kind == "folder":
            yield from entries(root, child, recursive=True)


def make_dirs(root: str, rel: str) -> None:
    """Create `root/rel` and missing parents with DIR_MODE, refusing to create through a link."""
    if not os.path.isdir(root):
        os.makedirs(root, DIR_MODE, exist_ok=True)
        os.chmod(root, DIR_MODE)
    if not rel:
        return
    refuse_links(root, rel)
    full = root
    for part in rel.split("/"):
        full = f"{full}/{part}"
        try:
            os.mkdir(full, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(full, DIR_MODE)  # mkdir's mode is filtered by the process umask; set it exactly


def move_entry(root: str, src: str, dst: str) -> None:
    """Rename `src` to `dst` within the lake without following `src` if it is a link.

    Only the parents of `src` must be real folders: the entry itself (a link, a file,
    a folder) is moved as it is, which is how the landing sensor takes a link away."""
    parent, _, _ = src.rpartition("/")
    refuse_links(root, parent)
    make_dirs(root, dst.rpartition("/")[0])
    destination = refuse_links(root, dst)
    if os.path.lexists(destination):
        raise FileExistsError(destination)
    os.rename(f"{root}/{src}", destination)


def open_lock(full: str) -> BinaryIO:
    """A lock file opened for `flock`: created 0640 at most, never through a link at its name."""
    fd = os.open(full, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    return os.fdopen(fd, "a+b")
