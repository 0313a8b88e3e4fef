"""deploy/iam/instance-role.json: what the boot script's instances need, and nothing more.

Each login the boot script can render (``images.boot.login_command``) runs one AWS CLI call; the
policy must allow exactly its action, on the resources the canonical desired file names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from reconciler import desired
from reconciler.images import boot
from reconciler.model import PullCredentials
from reconciler.sandbox.seed import ECR_PULL
from tests.test_iam import community_findings

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "deploy" / "iam" / "instance-role.json"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/simple-api"
# The AWS CLI's own command, a customization over GetAuthorizationToken (CLI reference,
# "get-login-password").
_CUSTOM = {("ecr", "get-login-password"): "GetAuthorizationToken"}


def policy() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(POLICY.read_text())
    return data


def allowed_actions() -> set[str]:
    found = set()
    for statement in policy()["Statement"]:
        actions = statement["Action"]
        found |= set([actions] if isinstance(actions, str) else actions)
    return found


def cli_action(command: str) -> str:
    """``aws ssm get-parameter ...`` → ``ssm:GetParameter``, checked against botocore's model."""
    words = command.split()
    assert words[0] == "aws"
    service, name = words[1], words[2]
    operation = _CUSTOM.get((service, name)) or "".join(p.title() for p in name.split("-"))
    model = botocore.session.get_session().get_service_model(service)
    assert operation in model.operation_names, f"{service} {name}"
    return f"{service}:{operation}"


@pytest.mark.parametrize(
    ("repository", "credentials"),
    [
        (ECR, None),
        ("ghcr.io/johnhuh619/simple-api", PullCredentials("u", "ssmParameter", "/feedback/t")),
        ("ghcr.io/johnhuh619/simple-api", PullCredentials("u", "secretsManager", "feedback/t")),
    ],
    ids=["ecr", "ssm", "secrets-manager"],
)
def test_every_login_the_script_renders_is_allowed(
    repository: str, credentials: PullCredentials | None
) -> None:
    command = boot.login_command(repository, region="us-east-1", credentials=credentials)
    token = command.split(" | ")[0]
    assert cli_action(token) in allowed_actions()


def test_the_pull_actions_are_the_seeds_instance_role() -> None:
    # The sandbox's instances run with ECR_PULL; the shipped policy grants at least that.
    seeded: set[str] = set()
    statements: list[dict[str, Any]] = json.loads(json.dumps(ECR_PULL))["Statement"]
    for statement in statements:
        action = statement["Action"]
        seeded |= set([action] if isinstance(action, str) else action)
    assert seeded <= allowed_actions()


def test_the_token_resources_are_the_canonical_files() -> None:
    (spec,) = desired.load([ROOT / "desired" / "desired.yaml"]).services
    credentials = spec.boot.pull_credentials
    assert credentials is not None and credentials.source == "ssmParameter"
    by_sid = {s["Sid"]: s for s in policy()["Statement"]}
    parameter = by_sid["ReadTheRegistryTokenParameterOnly"]["Resource"]
    assert parameter == f"arn:aws:ssm:*:*:parameter{credentials.name}"
    # Secrets Manager appends six random characters to a secret's ARN.
    secret = by_sid["ReadTheRegistryTokenSecretOnly"]["Resource"]
    assert secret == f"arn:aws:secretsmanager:*:*:secret:{credentials.name.lstrip('/')}-??????"


def test_parliament_flags_only_the_ecr_token_the_script_needs() -> None:
    # CREDENTIALS_EXPOSURE (community auditor, by action name): GetAuthorizationToken returns a
    # registry password. That is the point: docker login needs it, and ECR offers no other way.
    findings = community_findings(policy())
    assert set(findings) == {"CREDENTIALS_EXPOSURE"}
    assert findings["CREDENTIALS_EXPOSURE"]["actions"] == ["ecr:getauthorizationtoken"]
