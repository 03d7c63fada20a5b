"""The bucket's S3 lifecycle rules: cheaper tiers for ageing landing and raw data, expiry of
canary output, and an end to incomplete multipart uploads.

Garbage collection decides what may be deleted (it knows pointers and manifests); these
rules only move bytes between storage classes and expire what is never published, so
they cannot remove anything a reader needs. A bucket's lifecycle configuration is one
document for the whole bucket: rules of other lakes or owners are kept, and ours (their
ids start with `platform:<lake prefix>:`) are replaced as a set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platform_assets.governance.s3 import bucket_location, is_local, s3_client
from platform_assets.lake.storage import LakeStorage
from platform_assets.maintenance.retention import CANARY_ROOT, RetentionConfigError, RetentionPolicy

RULE_ID_PREFIX = "platform"
_KEYS = {
    "tiered_zones",
    "infrequent_access_days",
    "infrequent_access_class",
    "archive_days",
    "archive_class",
    "min_transition_bytes",
    "abort_incomplete_multipart_days",
}


class LifecycleError(RuntimeError):
    """Lifecycle rules asked of a lake that has no bucket, or refused by the endpoint."""


def _id(location_prefix: str, name: str) -> str:
    return f"{RULE_ID_PREFIX}:{location_prefix or '/'}:{name}"


def lifecycle_rules(prefix: str, config: Mapping[str, Any], canary_days: int) -> list[dict[str, Any]]:
    """Our rules for a lake rooted at `prefix` ('' for the bucket's top), from retention.toml."""
    missing, unknown = _KEYS - set(config), set(config) - _KEYS
    if missing or unknown:
        raise RetentionConfigError(f"[lifecycle]: missing {sorted(missing)}, unknown {sorted(unknown)}")
    root = f"{prefix}/" if prefix else ""
    rules: list[dict[str, Any]] = []
    for zone in config["tiered_zones"]:
        rules.append(
            {
                "ID": _id(prefix, f"tier-{zone}"),
                "Status": "Enabled",
                "Filter": {
                    "And": {
                        "Prefix": f"{root}{zone}/",
                        "ObjectSizeGreaterThan": int(config["min_transition_bytes"]),
                    }
                },
                "Transitions": [
                    {
                        "Days": int(config["infrequent_access_days"]),
                        "StorageClass": config["infrequent_access_class"],
                    },
                    {"Days": int(config["archive_days"]), "StorageClass": config["archive_class"]},
                ],
            }
        )
    rules.append(
        {
            "ID": _id(prefix, "expire-canary"),
            "Status": "Enabled",
            "Filter": {"Prefix": f"{root}{CANARY_ROOT}/"},
            "Expiration": {"Days": max(1, canary_days)},
        }
    )
    rules.append(
        {
            "ID": _id(prefix, "abort-incomplete-uploads"),
            "Status": "Enabled",
            "Filter": {"Prefix": root},
            "AbortIncompleteMultipartUpload": {
                "DaysAfterInitiation": int(config["abort_incomplete_multipart_days"])
            },
        }
    )
    return rules


def planned_rules(storage: LakeStorage, policy: RetentionPolicy | None = None) -> list[dict[str, Any]]:
    if is_local(storage):
        raise LifecycleError(f"{storage.url} is a local folder: lifecycle rules need an S3 lake")
    policy = policy or RetentionPolicy.load()
    return lifecycle_rules(bucket_location(storage).prefix, policy.lifecycle, policy.canary_expiry.days)


def current_rules(storage: LakeStorage) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules as the endpoint reports them (empty when it has none)."""
    from botocore.exceptions import ClientError

    location = bucket_location(storage)
    try:
        answer = s3_client(storage).get_bucket_lifecycle_configuration(Bucket=location.bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise LifecycleError(f"reading lifecycle rules of s3://{location.bucket}: {error}") from None
    return list(answer.get("Rules", []))


def apply_rules(storage: LakeStorage, policy: RetentionPolicy | None = None) -> list[dict[str, Any]]:
    """Replace this lake's rules in the bucket's lifecycle configuration, keeping everyone else's."""
    from botocore.exceptions import ClientError

    ours = planned_rules(storage, policy)
    location = bucket_location(storage)
    mine = _id(location.prefix, "")
    others = [rule for rule in current_rules(storage) if not str(rule.get("ID", "")).startswith(mine)]
    try:
        s3_client(storage).put_bucket_lifecycle_configuration(
            Bucket=location.bucket, LifecycleConfiguration={"Rules": [*others, *ours]}
        )
    except ClientError as error:
        raise LifecycleError(f"writing lifecycle rules of s3://{location.bucket}: {error}") from None
    return ours
