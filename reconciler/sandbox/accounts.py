"""The sandbox's several accounts: moto keeps every service's state per account, and STS's
AssumeRole into another account's role hands out credentials that act in that account. moto
itself assumes any role, existing or not, for anyone; AWS does not, so AssumeRole here is judged
as AWS judges it ("AssumeRole", AWS STS API reference; "IAM JSON policy elements: Principal" and
"How to use an external ID", IAM user guide):

- the role must exist in its account, and its trust policy must have an ``Allow`` statement for
  ``sts:AssumeRole`` naming the caller's principal: ``*``, the caller's account (its id or
  ``arn:aws:iam::ID:root``), or the caller's own role ARN when the caller is an assumed role;
- when that statement has a ``StringEquals`` condition on ``sts:ExternalId``, the request's
  ``ExternalId`` must be one of its values;
- otherwise: ``AccessDenied`` (AWS answers 403, the sandbox 400), "User: ARN is not authorized
  to perform: sts:AssumeRole on resource: ROLE", and no credentials.

Not modelled: explicit Deny statements, other condition operators and keys, the caller's own
identity policy (which AWS checks too, for a caller in another account than the role's).

``SECOND_ACCOUNT`` is the account ``reconciler sandbox`` seeds beside moto's default
(123456789012), with ``ROLE_NAME`` trusting the default account, for cross-account tries.
"""

from __future__ import annotations

import json
import warnings
from typing import Any
from urllib.parse import unquote

from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse

from reconciler.sandbox.patching import original, patch

DEFAULT_ACCOUNT = "123456789012"
SECOND_ACCOUNT = "111111111111"
ROLE_NAME = "asg-reconciler"
EXTERNAL_ID = "asg-reconciler-sandbox"


class AccessDenied(STSClientError):
    code = "AccessDenied"
    message = ""


def install() -> None:
    patch(TokenResponse, "assume_role", _assume_role)
    # STS's service model has no AccessDenied shape (AWS sends it as a generic 403; moto
    # answers 400, which botocore reads the same way: by the code): moto warns on every one.
    warnings.filterwarnings("ignore", message=r"Exception\(AccessDenied\) with code AccessDenied")


def role_arn(account: str = SECOND_ACCOUNT, name: str = ROLE_NAME) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def trust_policy(trusted_account: str, *, external_id: str | None = None) -> dict[str, Any]:
    """The trust policy of ``deploy/iam/cross-account-trust.json``, for ``trusted_account``."""
    statement: dict[str, Any] = {
        "Sid": "TheReconcilersAccountMayAssumeThisRole",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{trusted_account}:root"},
        "Action": "sts:AssumeRole",
    }
    if external_id is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def create_role(account: str, name: str, policy: dict[str, Any], *, path: str = "/") -> str:
    """Create a role in ``account`` directly in moto (no credentials of that account exist
    before a role in it does); its ARN."""
    role = iam_backends[account]["global"].create_role(
        role_name=name,
        assume_role_policy_document=json.dumps(policy),
        path=path,
        permissions_boundary=None,
        description="asg-reconciler sandbox cross-account role",
        tags=[],
        max_session_duration="3600",
        linked_service=None,
    )
    return str(role.arn)


def _assume_role(self: Any) -> Any:
    arn = str(self._get_param("RoleArn") or "")
    caller = _caller(self)
    if not _allowed(arn, caller=caller, external_id=self._get_param("ExternalId")):
        raise AccessDenied(
            f"User: {caller[1]} is not authorized to perform: sts:AssumeRole on resource: {arn}"
        )
    return original(TokenResponse, "assume_role")(self)


def _caller(response: Any) -> tuple[str, str]:
    """(account, principal ARN) of the request's credentials."""
    account = str(response.current_account)
    backend = sts_backends[account][response.partition]
    assumed = backend.get_assumed_role_from_access_key(response.get_access_key())
    if assumed is not None:
        return account, str(assumed.role_arn)
    return account, f"arn:aws:iam::{account}:user/moto"


def _allowed(arn: str, *, caller: tuple[str, str], external_id: str | None) -> bool:
    parts = arn.split(":")
    if len(parts) != 6 or not parts[5].startswith("role/"):
        return False
    roles = iam_backends[parts[4]]["global"].roles.values()
    role = next((r for r in roles if r.arn == arn), None)
    if role is None:
        return False
    policy = json.loads(unquote(role.assume_role_policy_document))
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    return any(_grants(s, caller=caller, external_id=external_id) for s in statements)


def _grants(statement: dict[str, Any], *, caller: tuple[str, str], external_id: str | None) -> bool:
    actions = statement.get("Action", [])
    actions = actions if isinstance(actions, list) else [actions]
    if statement.get("Effect") != "Allow" or not {"sts:AssumeRole", "sts:*", "*"} & set(actions):
        return False
    principal = statement.get("Principal", {})
    named = principal.get("AWS", []) if isinstance(principal, dict) else principal
    named = named if isinstance(named, list) else [named]
    account, caller_arn = caller
    if not {"*", account, f"arn:aws:iam::{account}:root", caller_arn} & set(named):
        return False
    wanted = statement.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
    if wanted is None:
        return True
    wanted = wanted if isinstance(wanted, list) else [wanted]
    return external_id in wanted
