"""Business domains, and the one registry the platform asks about them.

A domain is a folder `domains/<name>/` and nothing else: this module finds every
such package, so adding one never touches the platform layer. Each domain package
exposes `assets`, `asset_checks`, `sensors` and `jobs` (what `definitions.py`
assembles), a `source` module with `land(storage, start, end, progress)` and
`landing_file_count(start, end)` (what `platform land` and `replay` call), and a
`<name>.toml` with at least `[governance] regions` (where its data may live).

Sources are imported only when asked for, so the CLI does not load every domain's
asset graph (or model libraries) to land a file."""

from __future__ import annotations

import pkgutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import import_module, resources
from typing import Any

# What `platform land` / `replay` land when no `--domain` is given.
DEFAULT_DOMAIN = "flights"


class DomainError(ValueError):
    """A domain that is not there, or does not expose what the platform needs."""


@lru_cache(maxsize=1)
def domain_names() -> tuple[str, ...]:
    """Every domain package under `domains/`, sorted (private `_name` folders excluded)."""
    return tuple(
        sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg and not m.name.startswith("_"))
    )


def domain_package(domain: str) -> str:
    if domain not in domain_names():
        raise DomainError(f"no domain {domain!r}: known domains are {', '.join(domain_names())}")
    return f"{__name__}.{domain}"


def domain_toml(domain: str) -> dict[str, Any]:
    """The domain's own `<name>.toml` (constants, quality tolerances, regions)."""
    package = domain_package(domain)
    return tomllib.loads(resources.files(package).joinpath(f"{domain}.toml").read_text())


def landing_source(domain: str) -> tuple[Callable[..., dict[str, int]], Callable[..., int]]:
    """(land, file_count) of a domain's source."""
    module: Any = import_module(f"{domain_package(domain)}.source")
    return module.land, module.landing_file_count


@dataclass
class DomainDefinitions:
    """Everything the domains contribute to the one Definitions object."""

    assets: list[Any] = field(default_factory=list)
    asset_checks: list[Any] = field(default_factory=list)
    sensors: list[Any] = field(default_factory=list)
    jobs: list[Any] = field(default_factory=list)


def domain_definitions(domains: tuple[str, ...] | None = None) -> DomainDefinitions:
    """The assets, checks, sensors and jobs of every domain (or of those named)."""
    found = DomainDefinitions()
    for domain in domains or domain_names():
        module: Any = import_module(domain_package(domain))
        for part in ("assets", "asset_checks", "sensors", "jobs"):
            getattr(found, part).extend(getattr(module, part, []))
    return found
