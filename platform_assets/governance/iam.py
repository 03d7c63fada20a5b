"""Least-privilege IAM policies derived from the asset graph.

The graph already knows which code reads and writes which prefixes: an asset's key
is its path (`<zone>/<asset>`), its deps are what it reads, a raw asset names the
landing dataset it copies, and a screened asset keeps rejected rows under
`quarantine/<asset>`. Writing the policies by hand would restate all of that and
drift from it; generating them keeps each identity exactly as wide as the code.

Identities: the landing writer; one writer per zone (reads its inputs, writes only
its own assets, their quarantine and pointers); the operator (rollback, promotion,
retention); read-only analysts (published serving and curated data; never landing,
raw or quarantine). Plus a bucket policy that denies non-TLS requests and writes
that do not ask for server-side encryption."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from platform_assets.governance.identity import ANALYST, LANDING, OPERATOR
from platform_assets.lake.landing import LANDING_ZONE
from platform_assets.lake.layout import ASSET_ZONES
from platform_assets.lake.quarantine import QUARANTINE_ZONE, quarantine_key

POLICY_VERSION = "2012-10-17"
AUDIT_LOG = "_audit_log"  # append-only audit records (DESIGN 3b)
LAKE_IDENTITY_FILE = "_lake.json"
CANARY = "canary"
ML_ZONE = "ml"  # models are versions like any asset (DESIGN 3b)
REJECTED_LANDING = f"{LANDING_ZONE}/_rejected"
# Definition metadata the graph walk reads (set by raw_assets and quality.audit).
LANDING_DATASET_KEY = "platform/landing_dataset"
LANDING_EXT_KEY = "platform/landing_ext"
SCREENED_KEY = "platform/screened"
# Every identity may find out where the bucket is and how it is encrypted (start-up checks).
BUCKET_FACTS = ["s3:GetBucketLocation", "s3:GetEncryptionConfiguration"]
# IAM's managed-policy size limit (characters, whitespace not counted).
MANAGED_POLICY_LIMIT = 6144


@dataclass(frozen=True)
class AssetAccess:
    """What one asset's code touches, as read from its definition."""

    key: tuple[str, ...]
    inputs: tuple[tuple[str, ...], ...]
    landing: tuple[str, ...] = ()  # landing paths (relative to the lake root) a raw asset copies
    screened: bool = False

    @property
    def zone(self) -> str:
        return self.key[0]


@dataclass
class ZoneAccess:
    """The prefixes one zone's writer needs, relative to the lake root."""

    zone: str
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)


def graph_access(defs: dg.Definitions) -> list[AssetAccess]:
    """Walk the Definitions' asset specs: zone = first key part, inputs = deps."""
    graph = defs.resolve_asset_graph()
    found = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.path):
        node = graph.get(key)
        metadata = node.metadata or {}
        landing: tuple[str, ...] = ()
        dataset = metadata.get(LANDING_DATASET_KEY)
        if dataset:
            ext = metadata.get(LANDING_EXT_KEY, "csv")
            landing = (f"{LANDING_ZONE}/{dataset}/*", f"{LANDING_ZONE}/{dataset}.{ext}")
        found.append(
            AssetAccess(
                key=tuple(key.path),
                inputs=tuple(sorted(tuple(p.path) for p in node.parent_keys)),
                landing=landing,
                screened=bool(metadata.get(SCREENED_KEY, False)),
            )
        )
    return found


def _asset_prefix(key: Sequence[str]) -> str:
    return "/".join(key) + "/*"


def zone_access(assets: Iterable[AssetAccess]) -> dict[str, ZoneAccess]:
    """Each zone's reads and writes: its own assets, their inputs, quarantine, landing sources."""
    zones: dict[str, ZoneAccess] = defaultdict(lambda: ZoneAccess(""))
    for asset in assets:
        access = zones[asset.zone]
        access.zone = asset.zone
        own = _asset_prefix(asset.key)
        access.writes.add(own)  # versions, manifests, audits and the pointer all live under it
        access.reads.add(own)  # publishing reads the current pointer; audits read history
        access.reads.update(_asset_prefix(k) for k in asset.inputs)
        if asset.screened:
            rejected = _asset_prefix(quarantine_key(asset.key))
            access.writes.add(rejected)
            access.reads.add(rejected)
        if asset.landing:
            access.reads.update(asset.landing)
            dataset = asset.landing[0].split("/")[1]
            access.writes.add(f"{REJECTED_LANDING}/{dataset}/*")
        access.writes.add(f"{AUDIT_LOG}/*")
    return dict(zones)


class PolicyBuilder:
    """ARNs under one bucket and prefix, and the statements every identity shares."""

    def __init__(self, bucket: str, prefix: str = "", kms_key_id: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.kms_key_id = kms_key_id

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"

    def key(self, rel: str) -> str:
        """The object key of a lake-relative path or pattern."""
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def arns(self, rels: Iterable[str]) -> list[str]:
        return [f"{self.bucket_arn}/{self.key(r)}" for r in sorted(set(rels))]

    def listing(self, rels: Iterable[str]) -> dict[str, Any]:
        """ListBucket limited to the prefixes (and the folders leading to them) the identity uses."""
        prefixes: set[str] = set()
        for rel in rels:
            folder = rel.removesuffix("*").rstrip("/")
            parts = folder.split("/")
            for depth in range(1, len(parts)):
                prefixes.add(self.key("/".join(parts[:depth])) + "/")
            prefixes.update({self.key(folder), self.key(folder) + "/*"})
        if self.prefix:
            prefixes.add(self.prefix + "/")
        return {
            "Sid": "ListOwnPrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": self.bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": sorted(prefixes)}},
        }

    def facts(self) -> dict[str, Any]:
        return {"Sid": "BucketFacts", "Effect": "Allow", "Action": BUCKET_FACTS, "Resource": self.bucket_arn}

    def kms(self, write: bool) -> list[dict[str, Any]]:
        """Use of the SSE-KMS key, when the lake encrypts with one."""
        if not self.kms_key_id:
            return []
        key = (
            self.kms_key_id
            if self.kms_key_id.startswith("arn:")
            else f"arn:aws:kms:*:*:key/{self.kms_key_id}"
        )
        actions = ["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"]
        return [{"Sid": "UseLakeKey", "Effect": "Allow", "Action": actions, "Resource": key}]

    def document(self, statements: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Version": POLICY_VERSION, "Statement": statements}


def writer_policy(builder: PolicyBuilder, access: ZoneAccess) -> dict[str, Any]:
    reads = access.reads | {LAKE_IDENTITY_FILE}
    return builder.document(
        [
            {
                "Sid": "ReadInputsAndOwn",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": builder.arns(reads),
            },
            {
                "Sid": "WriteOwnZone",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": builder.arns(access.writes),
            },
            builder.listing(access.reads | access.writes),
            builder.facts(),
            *builder.kms(write=True),
        ]
    )


def landing_policy(builder: PolicyBuilder) -> dict[str, Any]:
    """Sources drop files into landing and may re-read them (landing twice is a no-op)."""
    landing = [f"{LANDING_ZONE}/*"]
    return builder.document(
        [
            {
                "Sid": "ReadLanding",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": builder.arns(landing),
            },
            {
                "Sid": "WriteLanding",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": builder.arns(landing),
            },
            builder.listing(landing),
            builder.facts(),
            *builder.kms(write=True),
        ]
    )


def operator_policy(builder: PolicyBuilder) -> dict[str, Any]:
    """Rollback and promotion move pointers and copy versions; retention deletes. Never the audit log."""
    zones = [f"{z}/*" for z in (*ASSET_ZONES, ML_ZONE, QUARANTINE_ZONE, CANARY)]
    everything = [*zones, f"{LANDING_ZONE}/*", f"{AUDIT_LOG}/*", LAKE_IDENTITY_FILE]
    return builder.document(
        [
            {
                "Sid": "ReadLake",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": builder.arns(everything),
            },
            {
                "Sid": "PublishRollbackPromote",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": builder.arns([*zones, f"{AUDIT_LOG}/*"]),
            },
            {
                "Sid": "Retention",
                "Effect": "Allow",
                "Action": "s3:DeleteObject",
                "Resource": builder.arns([*zones, f"{LANDING_ZONE}/*"]),
            },
            {
                "Sid": "Lifecycle",
                "Effect": "Allow",
                "Action": ["s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
                "Resource": builder.bucket_arn,
            },
            builder.listing(everything),
            builder.facts(),
            *builder.kms(write=True),
        ]
    )


def analyst_policy(builder: PolicyBuilder) -> dict[str, Any]:
    """Published serving and curated data, read-only; landing, raw and quarantine denied outright.

    The only write is the audit record of their own reads. The explicit denies hold
    even if another policy attached to the same person grants more."""
    readable = ["serving/*", "curated/*", LAKE_IDENTITY_FILE]
    data = [f"{z}/*" for z in (LANDING_ZONE, *ASSET_ZONES, ML_ZONE, QUARANTINE_ZONE, CANARY)]
    hidden = [f"{LANDING_ZONE}/*", "raw/*", f"{QUARANTINE_ZONE}/*"]
    return builder.document(
        [
            {
                "Sid": "ReadPublished",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": builder.arns(readable),
            },
            builder.listing(readable),
            builder.facts(),
            {
                "Sid": "NeverSources",
                "Effect": "Deny",
                "Action": "s3:GetObject",
                "Resource": builder.arns(hidden),
            },
            {
                # Every catalog read is recorded in the audit log, by the reader (create-only records).
                "Sid": "RecordOwnReads",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": builder.arns([f"{AUDIT_LOG}/*"]),
            },
            {
                "Sid": "NeverWriteData",
                "Effect": "Deny",
                "Action": "s3:PutObject",
                "Resource": builder.arns([*data, LAKE_IDENTITY_FILE]),
            },
            {
                "Sid": "NeverDelete",
                "Effect": "Deny",
                "Action": "s3:DeleteObject",
                "Resource": f"{builder.bucket_arn}/*",
            },
            *builder.kms(write=True),  # its audit records are encrypted with the lake's key
        ]
    )


def bucket_policy(builder: PolicyBuilder) -> dict[str, Any]:
    """Deny every non-TLS request, and every PUT that does not ask for the lake's SSE."""
    objects = f"{builder.bucket_arn}/*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [builder.bucket_arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyUnencryptedWrites",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}},
        },
    ]
    algorithm = "aws:kms" if builder.kms_key_id else "AES256"
    statements.append(
        {
            "Sid": "DenyOtherEncryption",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": algorithm}},
        }
    )
    return builder.document(statements)


def policies(
    defs: dg.Definitions, bucket: str, prefix: str = "", kms_key_id: str | None = None
) -> dict[str, dict[str, Any]]:
    """{identity: IAM policy document} for every platform identity, plus `bucket_policy`."""
    builder = PolicyBuilder(bucket, prefix, kms_key_id)
    zones = zone_access(graph_access(defs))
    found: dict[str, dict[str, Any]] = {LANDING: landing_policy(builder)}
    ordered = [z for z in ASSET_ZONES if z in zones] + sorted(set(zones) - set(ASSET_ZONES))
    for zone in ordered:  # the data zones first, then any other the graph has (e.g. ml)
        found[zone] = writer_policy(builder, zones[zone])
    found[OPERATOR] = operator_policy(builder)
    found[ANALYST] = analyst_policy(builder)
    return found
