"""A stored object that is not a table: a model, an index, any bytes a step produces.

It travels the same way as a landed file (one file per version, checksummed, behind
the same manifest and pointer), so publishing, audits and rollback need nothing new.
What the bytes mean goes into the manifest beside them (`manifest`): the manifest is
the one place a reader looks before opening the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from platform_assets.lake.versions import RawFile

# Manifest field naming the media type of an artifact's bytes.
MEDIA_TYPE_FIELD = "media_type"


@dataclass(frozen=True)
class Artifact:
    """Bytes to keep as a version, with facts for its manifest.

    `manifest` entries are merged over the IO manager's own (they may replace
    `upstream` when the step read its inputs itself, e.g. a trailing window)."""

    name: str
    data: bytes
    media_type: str
    manifest: dict[str, Any] = field(default_factory=dict)

    def as_file(self) -> RawFile:
        return RawFile(self.name, self.data, source_uri="")

    def manifest_fields(self) -> dict[str, Any]:
        return {**self.manifest, MEDIA_TYPE_FIELD: self.media_type}
