"""Which AWS identity a run or a command acts as.

Each zone's runs act as that zone's writer, so a bug in a serving asset cannot
overwrite raw data: the run's `zone` tag (set by the landing and automation
sensors, and by hand on manual launches) names the identity, and the identity
names an AWS profile through `identity_profile` (e.g. `platform-{identity}`), the
standard mechanism every AWS tool understands. The profile is resolved once through
boto3 and the resulting credentials are handed to pyarrow and boto3 alike."""

from __future__ import annotations

import re
from collections.abc import Iterable

from platform_assets.lake.access import AMBIENT, S3Identity
from platform_assets.lake.layout import ASSET_ZONES
from platform_assets.settings import SettingsError

LANDING = "landing"
OPERATOR = "operator"
ANALYST = "analyst"
# The landing writer, one writer per zone, the operator (rollback, promotion, retention), analysts.
IDENTITIES = (LANDING, *ASSET_ZONES, OPERATOR, ANALYST)
ZONE_TAG = "zone"
# Any other zone the graph has (e.g. `ml`) gets a writer of its own.
_ZONE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class IdentityError(SettingsError):
    """No usable credentials for the identity a run or command must act as."""


def run_identity(tags: dict[str, str], selected_zones: Iterable[str]) -> str | None:
    """The identity a run acts as: the one zone it materializes, which its `zone` tag
    names when it has one.

    A run over several zones has no single least-privileged identity, whatever its tag
    says (a tag sets the run queue's limits, not what the run writes): it gets the union's
    name, which `resolve` refuses when identities are in force, rather than one zone's
    credentials for writes into the others."""
    zones = set(selected_zones)
    zone = tags.get(ZONE_TAG)
    if zone:
        zones.add(zone)
    if len(zones) == 1:
        return zones.pop()
    if zones:
        return "+".join(sorted(zones))
    return None


def resolve(identity: str | None, profile_template: str) -> S3Identity:
    """Credentials for `identity` through its AWS profile; the ambient chain when none is configured."""
    if not profile_template or identity is None:
        return AMBIENT
    if identity not in IDENTITIES and not _ZONE_NAME.match(identity):
        raise IdentityError(
            f"a run acting as {identity!r} has no platform identity (one of {', '.join(IDENTITIES)}); "
            f"tag each run with one zone (`{ZONE_TAG}` run tag) and launch one run per zone"
        )
    import boto3
    import botocore.exceptions

    profile = profile_template.format(identity=identity)
    try:
        credentials = boto3.Session(profile_name=profile).get_credentials()
    except botocore.exceptions.ProfileNotFound:
        raise IdentityError(
            f"identity {identity} uses AWS profile {profile!r}, which is not configured "
            "(AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE); set PLATFORM_IDENTITY_PROFILE='' to use "
            "ambient credentials instead"
        ) from None
    if credentials is None:
        raise IdentityError(f"AWS profile {profile!r} (identity {identity}) yields no credentials")
    frozen = credentials.get_frozen_credentials()
    return S3Identity(
        name=profile, access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token
    )
