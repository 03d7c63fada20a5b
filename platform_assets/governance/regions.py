"""Regional boundaries: each domain says where its data may live, the platform checks the bucket.

A domain declares `[governance] regions = [...]` in its own `domains/<name>/<name>.toml`.
A lake holds every domain's data, so its bucket must be in a region every domain
allows. The check runs when a lake is opened (writes) and is the function promotion
calls before copying into a target bucket."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from platform_assets.domains import domain_names, domain_package, domain_toml
from platform_assets.settings import SettingsError

# What GetBucketLocation answers for regions older than LocationConstraint values.
_LEGACY_LOCATIONS = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}


class RegionError(SettingsError):
    """A bucket outside the regions a domain's data may live in, or a domain that declares none."""


def domain_regions(domains: Sequence[str] | None = None) -> dict[str, tuple[str, ...]]:
    """{domain: allowed regions} from each domain's `<domain>.toml` `[governance] regions`."""
    found: dict[str, tuple[str, ...]] = {}
    for domain in domains or domain_names():
        package, name = domain_package(domain), f"{domain}.toml"
        config = domain_toml(domain)
        regions = config.get("governance", {}).get("regions")
        if not regions or not all(isinstance(r, str) and r for r in regions):
            raise RegionError(
                f"{package.replace('.', '/')}/{name}: [governance] regions must list the AWS regions "
                f"domain {domain}'s data may live in"
            )
        found[domain] = tuple(regions)
    return found


def bucket_region(client: Any, bucket: str) -> str:
    location = client.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return _LEGACY_LOCATIONS.get(location, location)


def check_bucket_region(
    client: Any,
    bucket: str,
    *,
    allowed: Mapping[str, Sequence[str]] | None = None,
    purpose: str = "write to",
) -> str:
    """The bucket's region, or RegionError when any domain does not allow it.

    `purpose` words the refusal (`write to`, `promote into`); `allowed` defaults to
    every domain's declaration."""
    allowed = domain_regions() if allowed is None else allowed
    region = bucket_region(client, bucket)
    refusing = {domain: regions for domain, regions in allowed.items() if region not in regions}
    if refusing:
        reasons = "; ".join(f"domain {d} allows only {', '.join(r)}" for d, r in sorted(refusing.items()))
        raise RegionError(f"refusing to {purpose} bucket {bucket!r} in region {region}: {reasons}")
    return region
