"""`platform new-domain NAME`: a new domain folder that runs from green.

A team starts from a working graph (a landing source stub, raw/curated/serving
assets, their contracts and a test that runs them on sample data), not from an
empty folder: the platform finds the package by itself (`domains/__init__.py`), so
nothing else needs editing. Templates live in `scaffold_templates/`."""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from importlib import resources
from pathlib import Path

import platform_assets
from platform_assets.domains import domain_names

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,29}$")
TEMPLATES = "scaffold_templates"
# Template -> the file it becomes, relative to the project root.
FILES = {
    "__init__.py.tmpl": "platform_assets/domains/{name}/__init__.py",
    "domain.toml.tmpl": "platform_assets/domains/{name}/{name}.toml",
    "source.py.tmpl": "platform_assets/domains/{name}/source.py",
    "contracts.py.tmpl": "platform_assets/domains/{name}/contracts.py",
    "assets.py.tmpl": "platform_assets/domains/{name}/assets.py",
    "test_domain.py.tmpl": "platform_assets_tests/test_domain_{name}.py",
}


class ScaffoldError(ValueError):
    """A domain name the platform cannot take, said with the reason."""


def validate_name(name: str) -> str:
    """A lowercase identifier that is neither a Python keyword nor a domain already there."""
    if not NAME_PATTERN.match(name) or name.endswith("_"):
        raise ScaffoldError(
            f"domain name {name!r} must be a lowercase identifier: a letter, then letters, digits or "
            "underscores (2-30 characters), e.g. 'energy_prices'"
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(f"domain name {name!r} is a Python keyword")
    if name in domain_names():
        raise ScaffoldError(f"domain {name!r} exists already (platform_assets/domains/{name}/)")
    return name


def project_root() -> Path:
    """The checkout the running `platform_assets` package was imported from."""
    return Path(platform_assets.__file__).resolve().parent.parent


def scaffold(name: str, root: Path | None = None) -> list[Path]:
    """Write the domain's files under `root`; refuses to overwrite anything."""
    validate_name(name)
    root = root or project_root()
    title = "".join(part.capitalize() for part in name.split("_"))
    targets = {template: root / path.format(name=name) for template, path in FILES.items()}
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing:
        raise ScaffoldError(f"refusing to overwrite {', '.join(existing)}")
    templates = resources.files(platform_assets).joinpath(TEMPLATES)
    for template, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(templates.joinpath(template).read_text().format(name=name, title=title))
    return list(targets.values())


def cmd_new_domain(args: argparse.Namespace) -> int:
    try:
        written = scaffold(args.name)
    except ScaffoldError as error:
        print(f"platform: {error}", file=sys.stderr)
        return 1
    root = project_root()
    for path in written:
        print(f"wrote {path.relative_to(root)}")
    test = FILES["test_domain.py.tmpl"].format(name=args.name)
    print(f"next: .venv/bin/python -m pytest {test}   (then replace the sample source with yours)")
    return 0


def add_new_domain_command(commands: argparse._SubParsersAction) -> None:
    new = commands.add_parser(
        "new-domain", help="scaffold platform_assets/domains/NAME/ with a test that passes"
    )
    new.add_argument("name", help="the domain's name: a lowercase identifier, e.g. energy_prices")
    new.set_defaults(func=cmd_new_domain)
