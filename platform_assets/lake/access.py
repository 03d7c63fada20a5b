"""Who the lake is talking to S3 as, and the one error a refused request becomes.

Least privilege only helps when a refusal is legible: pyarrow says `AWS Error
ACCESS_DENIED during PutObject operation` and botocore raises a `ClientError`
with code `AccessDenied`, neither naming the identity or the lake path. Both are
turned into `LakeAccessDenied` here, which names all three."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The S3 action each storage operation needs, as IAM policies name it.
S3_ACTIONS = {
    "read": "s3:GetObject",
    "stat": "s3:GetObject",
    "exists": "s3:GetObject",
    "write": "s3:PutObject",
    "delete": "s3:DeleteObject",
    "list": "s3:ListBucket",
}
_DENIED = re.compile(r"ACCESS_DENIED|AccessDenied|Access Denied|HTTP response code: 403", re.IGNORECASE)
_PYARROW_OPERATION = re.compile(r"during (\w+) operation")
_OPERATION_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "CopyObject": "s3:PutObject",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
}


@dataclass(frozen=True)
class S3Identity:
    """Credentials resolved for one platform identity (an AWS profile), or the ambient chain.

    Resolved once through boto3 and handed to both pyarrow and boto3 explicitly, so
    the two clients can never act as different principals."""

    name: str = "ambient AWS credentials"
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """How errors and logs name the identity: the profile and its (non-secret) key id."""
        return f"{self.name} (key {self.access_key})" if self.access_key else self.name

    def pyarrow_kwargs(self) -> dict[str, str]:
        if not self.access_key:
            return {}
        kwargs = {"access_key": self.access_key, "secret_key": self.secret_key or ""}
        if self.session_token:
            kwargs["session_token"] = self.session_token
        return kwargs

    def boto3_kwargs(self) -> dict[str, str]:
        if not self.access_key:
            return {}
        kwargs = {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key or ""}
        if self.session_token:
            kwargs["aws_session_token"] = self.session_token
        return kwargs


AMBIENT = S3Identity()


class LakeAccessDenied(PermissionError):
    """S3 refused a request: the identity's policy does not allow this action on this path."""

    def __init__(self, identity: str, action: str, uri: str, detail: str = "") -> None:
        self.identity = identity
        self.action = action
        self.uri = uri
        message = f"access denied: identity {identity} may not {action} on {uri}"
        super().__init__(f"{message} ({detail})" if detail else message)


def _client_error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or None
    return None


def is_access_denied(error: BaseException) -> bool:
    """pyarrow's ACCESS_DENIED OSError or botocore's AccessDenied ClientError."""
    if isinstance(error, LakeAccessDenied):
        return False
    code = _client_error_code(error)
    if code is not None:
        return code in ("AccessDenied", "403", "Forbidden")
    return isinstance(error, OSError) and bool(_DENIED.search(str(error)))


def access_denied(error: BaseException, identity: S3Identity, operation: str, uri: str) -> LakeAccessDenied:
    """The platform error for a refused request, with the S3 action the request needed."""
    action = S3_ACTIONS.get(operation, operation)
    if _client_error_code(error.__cause__ or error) is not None:
        error = error.__cause__ or error  # storage maps botocore errors; the cause names the call
    operation_name = getattr(error, "operation_name", None)
    found = _PYARROW_OPERATION.search(str(error))
    name = operation_name or (found.group(1) if found else None)
    if name in _OPERATION_ACTIONS:
        action = _OPERATION_ACTIONS[name]
    return LakeAccessDenied(identity.label, action, uri, detail=f"S3 {name}" if name else "")
