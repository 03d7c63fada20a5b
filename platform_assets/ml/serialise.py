"""Estimators to bytes and back with skops: no pickle, and the same model gives the same bytes.

skops stores an estimator as a zip of a JSON schema and NumPy arrays, and on load
constructs only the types it is told to trust, so opening a model from the lake
cannot run code. Its raw output is not reproducible, though: array files are named
after Python object ids, the schema carries those ids, and zip entries carry the
write time. `dumps` renumbers both in order of appearance and fixes every entry's
time, so two trainings on the same inputs give byte-identical artifacts (and so the
same content hash)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from typing import Any

MEDIA_TYPE = "application/vnd.skops+zip"
SCHEMA_FILE = "schema.json"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_OBJECT_ID = re.compile(r'"__id__": (\d+)')
_ARRAY_FILE = re.compile(r'"(\d+\.npy)"')

# Types a model may contain beyond skops' defaults (its scikit-learn estimators are
# trusted already). Anything else in a stored model is refused on load.
TRUSTED_TYPES = (
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
)


class UntrustedModelError(ValueError):
    """A stored model names types this platform does not trust to construct."""


def _canonical(data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = source.read(SCHEMA_FILE).decode()
    ids: dict[str, int] = {}
    schema = _OBJECT_ID.sub(lambda m: f'"__id__": {ids.setdefault(m.group(1), len(ids) + 1)}', schema)
    arrays: dict[str, str] = {}
    schema = _ARRAY_FILE.sub(
        lambda m: '"' + arrays.setdefault(m.group(1), f"{len(arrays):06d}.npy") + '"', schema
    )
    missing = set(source.namelist()) - {SCHEMA_FILE, *arrays}
    if missing:
        raise ValueError(f"skops archive has files its schema does not name: {sorted(missing)[:3]}")
    entries = [(SCHEMA_FILE, schema.encode()), *((new, source.read(old)) for old, new in arrays.items())]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, body in entries:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, body)
    return out.getvalue()


def dumps(estimator: Any) -> bytes:
    """The estimator as reproducible skops bytes."""
    import skops.io as sio

    return _canonical(sio.dumps(estimator))


def loads(data: bytes, trusted: Iterable[str] = TRUSTED_TYPES) -> Any:
    """The estimator, constructed only from trusted types; anything else is refused by name."""
    import skops.io as sio

    allowed = set(trusted)
    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in allowed]
    if untrusted:
        raise UntrustedModelError(f"model contains untrusted types {untrusted}; refusing to load it")
    return sio.loads(data, trusted=sorted(allowed))
