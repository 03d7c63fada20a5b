"""A canary's view of the lake: writes land under `<root>/canary/<id>/`, reads fall back to what is published.

The canary runs the ordinary assets, IO manager and audit checks unchanged; only the
lake they are handed differs. Every write (data, manifests, audit records, and the
pointers the canary's own audits move) goes below the canary prefix, because the
storage's root *is* that prefix. Reads look there first and otherwise at the real
lake, so upstream inputs are the published versions and history checks compare
with published history, while a published pointer can never be written: no path
a canary can form leads outside its prefix."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from typing import Any

from platform_assets.lake import layout, publish_index
from platform_assets.lake.resources import LakeResource
from platform_assets.lake.storage import LakeFile, LakeStorage
from platform_assets.lake.versions import VersionStore

CANARY_ZONE = "canary"
_CANARY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class CanaryIdError(ValueError):
    """A canary id that cannot be a folder name."""


def check_canary_id(canary_id: str) -> str:
    if not _CANARY_ID.match(canary_id):
        raise CanaryIdError(f"canary id {canary_id!r} must be lowercase letters, digits, '-' or '_'")
    return canary_id


def canary_prefix(canary_id: str) -> str:
    return f"{CANARY_ZONE}/{check_canary_id(canary_id)}"


class OverlayStorage(LakeStorage):
    """The canary prefix for writes; the canary prefix, then the real lake, for reads."""

    def __init__(self, published: LakeStorage, canary_id: str) -> None:
        prefix = canary_prefix(canary_id)
        super().__init__(
            published.fs,
            f"{published.root}/{prefix}",
            f"{published.url}/{prefix}",
            published.retry,
            endpoint_url=published.endpoint_url,
            region=published.region,
            is_local=published.is_local,
        )
        self.published = published

    def _falls_back(self, rel: str) -> bool:
        """Whether a read the canary cannot answer may be answered by the real lake.

        Not for the pointer of a partition the canary writes: its publish must see
        the canary's own (absent) pointer, never the real one, so a conditional
        pointer write compares with what is under the canary prefix."""
        if publish_index.is_index_path(rel):
            return False  # the canary's publishes keep their own index, compared under its prefix
        if posixpath.basename(rel) != layout.POINTER_FILE:
            return True
        return not super().list_names(posixpath.dirname(rel))

    def exists(self, rel: str) -> bool:
        return super().exists(rel) or (self._falls_back(rel) and self.published.exists(rel))

    def read_object(self, rel: str) -> tuple[bytes, str] | None:
        found = super().read_object(rel)
        if found is None and self._falls_back(rel):
            return self.published.read_object(rel)
        return found

    def list_names(self, rel: str) -> list[str]:
        return sorted(set(super().list_names(rel)) | set(self.published.list_names(rel)))

    def list_files(self, rel: str, recursive: bool = True) -> Iterator[LakeFile]:
        seen = set()
        for found in super().list_files(rel, recursive):
            seen.add(found.path)
            yield found
        for found in self.published.list_files(rel, recursive):
            if found.path not in seen:
                yield found

    def file_info(self, rel: str) -> LakeFile | None:
        return super().file_info(rel) or self.published.file_info(rel)


class CanaryVersionStore(VersionStore):
    """Versions through an `OverlayStorage`: data files are read from whichever lake wrote them."""

    storage: OverlayStorage

    def _own(self, manifest: dict[str, Any]) -> bool:
        return str(manifest.get("uri", "")).startswith(self.storage.url + "/")

    def data_paths(self, manifest: dict[str, Any]) -> list[str]:
        if self._own(manifest):
            return super().data_paths(manifest)
        return VersionStore(self.storage.published).data_paths(manifest)

    def _read_part(self, manifest: dict[str, Any], entry: dict[str, Any], columns: list[str] | None) -> Any:
        if self._own(manifest):
            return super()._read_part(manifest, entry, columns)
        return VersionStore(self.storage.published)._read_part(manifest, entry, columns)


class CanaryLakeResource(LakeResource):
    """The lake resource of a canary run: the real lake's settings, the canary's prefix."""

    canary_id: str

    def storage(self) -> OverlayStorage:
        return OverlayStorage(super().storage(), self.canary_id)

    def versions(self) -> CanaryVersionStore:
        return CanaryVersionStore(self.storage(), self.settings().target_file_bytes)


def canary_only(published: LakeStorage, canary_id: str) -> VersionStore:
    """The versions the canary wrote, without the fallback: for comparing and reporting."""
    prefix = canary_prefix(canary_id)
    storage = LakeStorage(
        published.fs,
        f"{published.root}/{prefix}",
        f"{published.url}/{prefix}",
        endpoint_url=published.endpoint_url,
        region=published.region,
        is_local=published.is_local,
    )
    return VersionStore(storage)


def canary_keys(published: LakeStorage, canary_id: str, zones: Sequence[str]) -> list[tuple[str, str]]:
    store = canary_only(published, canary_id)
    return [(z, n) for z in zones for n in store.storage.list_names(z)]
