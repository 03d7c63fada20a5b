"""Business domains. Each `domains/<name>/` exposes `assets` and a `land` function.

The platform's CLI finds sources here by name, so adding a domain never touches
the platform layer."""

from collections.abc import Callable
from importlib import import_module
from typing import Any

DOMAIN_MODULES = {"flights": "platform_assets.domains.flights.source"}


def landing_source(domain: str) -> tuple[Callable[..., dict[str, int]], Callable[..., int]]:
    """(land, file_count) of a domain's source."""
    module: Any = import_module(DOMAIN_MODULES[domain])
    return module.land, module.landing_file_count
