"""Models as lake versions: safe serialisation, evaluation metrics, input drift, the promotion gate.

Nothing here knows a domain: a domain trains its estimator and describes its
features; these modules store, measure and judge it."""

from __future__ import annotations

from typing import Any


def load_model(
    catalog: Any, asset: str, partition: str | None = None, **pin: Any
) -> tuple[Any, dict[str, Any]]:
    """A published (or pinned: `version=`, `as_of=`) model from the catalog, and its manifest.

    Loaded with skops from trusted types only: opening a model cannot run code."""
    from platform_assets.ml import serialise

    data, manifest = catalog.artifact(asset, partition, **pin)
    return serialise.loads(data), manifest
