"""`platform iam-policies`: print the generated IAM policies for one environment's lake."""

from __future__ import annotations

import argparse
import json
from typing import Any

from platform_assets.governance import iam
from platform_assets.governance.config import GovernanceSettings
from platform_assets.settings import ENVIRONMENTS


def iam_policy_report(env: str, bucket: str, prefix: str = "") -> dict[str, Any]:
    """Every identity's AWS profile and policy, and the bucket policy, as one JSON document."""
    from platform_assets.definitions import defs

    governance = GovernanceSettings.load(env)
    documents = iam.policies(defs, bucket, prefix, governance.kms_key_id)
    identities = {}
    for name in documents:
        size = len(json.dumps(documents[name], separators=(",", ":")))
        identities[name] = {
            "aws_profile": governance.identity_profile.format(identity=name)
            if governance.identity_profile
            else None,
            "policy": documents[name],
            "policy_chars": size,
        }
        if size > iam.MANAGED_POLICY_LIMIT:
            identities[name]["warning"] = f"{size} characters exceeds IAM's {iam.MANAGED_POLICY_LIMIT} limit"
    return {
        "env": env,
        "bucket": bucket,
        "prefix": prefix.strip("/"),
        "identities": identities,
        "bucket_policy": iam.bucket_policy(iam.PolicyBuilder(bucket, prefix, governance.kms_key_id)),
    }


def cmd_iam_policies(args: argparse.Namespace) -> int:
    print(json.dumps(iam_policy_report(args.env, args.bucket, args.prefix or ""), indent=2))
    return 0


def add_iam_policies_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "iam-policies", help="print least-privilege IAM policies derived from the asset graph (JSON)"
    )
    parser.add_argument("--env", choices=ENVIRONMENTS, required=True, help="environment the lake serves")
    parser.add_argument("--bucket", required=True, help="the lake's bucket")
    parser.add_argument("--prefix", default="", help="the lake's prefix inside the bucket")
    parser.set_defaults(func=cmd_iam_policies)
