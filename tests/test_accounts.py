"""Several accounts: ``spec.aws.roleArn`` validated, the role assumed through STS against the
sandbox's second account (111111111111), credentials cached and refreshed, observation per
(account, region), and errors that name the account and the role."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

from reconciler import desired, errors
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.model import AwsAccess, ServiceOutcome
from reconciler.pipeline.reconcile import Reconciler
from reconciler.pipeline.status import service_status
from reconciler.sandbox import Sandbox, accounts
from reconciler.sandbox.seed import Seeded
from tests.access_denied import AccessDenied
from tests.test_loop import ROOT, desired_yaml

ROLE = accounts.role_arn()
SECOND = AwsAccess(ROLE, accounts.EXTERNAL_ID)


def _second_service(
    tag: str, *, role: str = ROLE, external_id: str | None = accounts.EXTERNAL_ID
) -> str:
    text = desired_yaml(tag=tag).replace("  name: feedback\n", "  name: feedback-second\n", 1)
    block = f"  aws:\n    roleArn: {role}\n"
    if external_id is not None:
        block += f"    externalId: {external_id}\n"
    return text.replace("spec:\n  region: us-east-1\n", "spec:\n  region: us-east-1\n" + block, 1)


def _desired(tmp_path: Path, *documents: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "feedback-userdata.sh").write_text(
        (ROOT / "desired" / "feedback-userdata.sh").read_text()
    )
    (tmp_path / "desired.yaml").write_text("---\n".join(documents))
    return tmp_path


def _compute(aws: Aws, path: Path) -> tuple[dict[str, ServiceOutcome], Reconciler]:
    specs = desired.load([path]).services
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    return {o.name: o for o in reconciler.compute(specs)}, reconciler


def _group(aws: Aws) -> dict[str, object]:
    found = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=["feedback-asg"]
    )["AutoScalingGroups"]
    return dict(found[0])


def _refreshes(aws: Aws) -> list[dict[str, Any]]:
    found = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName="feedback-asg"
    )["InstanceRefreshes"]
    return list(found)


@pytest.fixture
def second(sandbox: Sandbox) -> Seeded:
    return sandbox.seed_second_account()


def test_a_service_in_a_second_account_is_reconciled_through_its_role(
    sandbox: Sandbox, second: Seeded, tmp_path: Path
) -> None:
    assert second.account_id == accounts.SECOND_ACCOUNT
    aws = Aws(region="us-east-1", endpoint_url=sandbox.endpoint)
    path = _desired(tmp_path, desired_yaml(tag="v1.1"), _second_service("v1.0"))
    outcomes, reconciler = _compute(aws, path)
    assert {n: o.error for n, o in outcomes.items()} == {"feedback": None, "feedback-second": None}
    # One batched read per (account, region), and one AssumeRole for the second account.
    assert aws.calls["DescribeAutoScalingGroups"] == 2
    assert aws.calls["AssumeRole"] == 1
    reconciler.apply([outcomes["feedback-second"]])
    other = aws.assumed(SECOND)
    assert [r["DesiredConfiguration"]["LaunchTemplate"]["Version"] for r in _refreshes(other)] == [
        "2"
    ]
    assert _refreshes(aws) == []  # the default account's group is not touched
    versions = other.call(
        "ec2", "describe_launch_template_versions", LaunchTemplateName="feedback-app-template"
    )["LaunchTemplateVersions"]
    assert any("v1.0" in str(v.get("VersionDescription")) for v in versions)
    # The next pass sees the second account's rollout, with the same cached credentials.
    again = {o.name: o for o in reconciler.compute(desired.load([path]).services)}
    assert again["feedback-second"].diff is not None
    assert again["feedback-second"].diff.refresh is not None
    assert aws.calls["AssumeRole"] == 1


@pytest.mark.parametrize(
    ("role", "external_id"),
    [
        pytest.param(ROLE, "not-the-one", id="wrong external id"),
        pytest.param(ROLE, None, id="external id missing"),
        pytest.param(accounts.role_arn(name="no-such-role"), accounts.EXTERNAL_ID, id="no role"),
        pytest.param(accounts.role_arn("222222222222"), accounts.EXTERNAL_ID, id="no account"),
    ],
)
def test_a_refused_assume_role_stalls_that_service_naming_account_and_role(
    sandbox: Sandbox, second: Seeded, tmp_path: Path, role: str, external_id: str | None
) -> None:
    aws = Aws(region="us-east-1", endpoint_url=sandbox.endpoint)
    document = _second_service("v1.0", role=role, external_id=external_id)
    outcomes, _ = _compute(aws, _desired(tmp_path, desired_yaml(tag="v1.1"), document))
    error = outcomes["feedback-second"].error
    assert isinstance(error, errors.AwsApiError)
    assert (error.operation, error.code) == ("AssumeRole", "AccessDenied")
    account = role.split(":")[4]
    assert f"account {account}" in str(error) and role in str(error)
    stalled = service_status(outcomes["feedback-second"]).condition("Stalled")
    assert (stalled.status, stalled.reason) == (True, "AccessDenied")
    assert outcomes["feedback"].error is None  # the other account goes on
    assert aws.requests["DescribeAutoScalingGroups"] == 1  # nothing was sent as the role


def test_access_denied_on_a_describe_names_the_account_and_the_role(
    sandbox: Sandbox, second: Seeded, tmp_path: Path
) -> None:
    path = _desired(tmp_path, desired_yaml(tag="v1.1"), _second_service("v1.1"))
    with AccessDenied(sandbox.endpoint, denied=frozenset({"DescribeAutoScalingGroups"})) as proxy:
        proxy.armed.set()
        aws = Aws(region="us-east-1", endpoint_url=proxy.endpoint)
        outcomes, _ = _compute(aws, path)
    own, theirs = outcomes["feedback"].error, outcomes["feedback-second"].error
    assert isinstance(own, errors.AwsApiError) and isinstance(theirs, errors.AwsApiError)
    assert "account" not in str(own)
    assert f"(account {accounts.SECOND_ACCOUNT}, role {ROLE})" in str(theirs)
    assert theirs.operation == "DescribeAutoScalingGroups"


class Clock:
    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


def test_credentials_are_cached_per_role_and_refreshed_before_they_expire(
    sandbox: Sandbox, second: Seeded
) -> None:
    clock = Clock()
    aws = Aws(region="us-east-1", endpoint_url=sandbox.endpoint, credentials_clock=clock)
    other = aws.assumed(SECOND)
    assert aws.assumed(SECOND) is other
    assert aws.calls["AssumeRole"] == 0  # deferred: nothing until the first call
    for _ in range(3):
        other.call("ec2", "describe_vpcs")
    assert aws.calls["AssumeRole"] == 1
    clock.offset = dt.timedelta(minutes=40)  # 20 minutes left of the hour: still good
    other.call("ec2", "describe_vpcs")
    assert aws.calls["AssumeRole"] == 1
    clock.offset = dt.timedelta(minutes=46)  # within 15 minutes of expiry: refreshed first
    other.call("ec2", "describe_vpcs")
    assert aws.calls["AssumeRole"] == 2
    # Another external id is another cache entry (and here, refused by the trust policy).
    with pytest.raises(errors.AwsApiError, match="AccessDenied"):
        aws.assumed(AwsAccess(ROLE, "another-id")).call("ec2", "describe_vpcs")


# -- the sandbox judges AssumeRole as AWS does -------------------------------------------------


def _sts(sandbox: Sandbox) -> object:
    return boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=sandbox.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.parametrize(
    ("trusted", "external_id", "sent", "allowed"),
    [
        pytest.param(accounts.DEFAULT_ACCOUNT, None, None, True, id="trusted account"),
        pytest.param(accounts.DEFAULT_ACCOUNT, "x-id", "x-id", True, id="external id matches"),
        pytest.param(accounts.DEFAULT_ACCOUNT, "x-id", "y-id", False, id="external id differs"),
        pytest.param(accounts.DEFAULT_ACCOUNT, "x-id", None, False, id="external id missing"),
        pytest.param("333333333333", None, None, False, id="another account trusted"),
    ],
)
def test_the_sandbox_assumes_a_role_only_as_its_trust_policy_says(
    sandbox: Sandbox, trusted: str, external_id: str | None, sent: str | None, allowed: bool
) -> None:
    arn = accounts.create_role(
        accounts.SECOND_ACCOUNT, "judged", accounts.trust_policy(trusted, external_id=external_id)
    )
    params = {"RoleArn": arn, "RoleSessionName": "judge"} | ({"ExternalId": sent} if sent else {})
    sts = _sts(sandbox)
    if allowed:
        found = sts.assume_role(**params)  # type: ignore[attr-defined]
        assert found["AssumedRoleUser"]["Arn"].startswith("arn:aws:sts::111111111111:")
        return
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sts.assume_role(**params)  # type: ignore[attr-defined]
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert f"sts:AssumeRole on resource: {arn}" in refused.value.response["Error"]["Message"]


def test_the_second_accounts_seed_is_its_own(
    sandbox: Sandbox, seeded: Seeded, second: Seeded
) -> None:
    assert (seeded.account_id, second.account_id) == ("123456789012", "111111111111")
    assert second.vpc_id != seeded.vpc_id
    aws = Aws(region="us-east-1", endpoint_url=sandbox.endpoint)
    theirs = aws.assumed(SECOND)
    assert _group(theirs)["AutoScalingGroupARN"] != _group(aws)["AutoScalingGroupARN"]
    assert ":111111111111:" in str(_group(theirs)["AutoScalingGroupARN"])


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("  aws:\n    roleArn: arn:aws:iam::1234:role/x\n", "spec.aws.roleArn"),
        ("  aws:\n    roleArn: arn:aws:iam::111111111111:user/x\n", "spec.aws.roleArn"),
        ("  aws:\n    roleArn: arn:aws:s3:::bucket\n", "spec.aws.roleArn"),
        ("  aws:\n    roleArn: arn:aws:iam::111111111111:role/has space\n", "spec.aws.roleArn"),
        (
            "  aws:\n    roleArn: arn:aws:iam::111111111111:role/x\n    externalId: a\n",
            "spec.aws.externalId",
        ),
        (
            "  aws:\n    roleArn: arn:aws:iam::111111111111:role/x\n    externalId: 'a b'\n",
            "spec.aws.externalId",
        ),
        ("  aws:\n    externalId: abc\n", "spec.aws.roleArn"),
        (
            "  aws:\n    roleArn: arn:aws:iam::111111111111:role/x\n    region: eu-west-1\n",
            "spec.aws.region",
        ),
    ],
)
def test_a_bad_spec_aws_is_refused_with_file_line_and_field(
    tmp_path: Path, block: str, field: str
) -> None:
    text = desired_yaml().replace(
        "spec:\n  region: us-east-1\n", "spec:\n  region: us-east-1\n" + block, 1
    )
    path = _desired(tmp_path, text)
    with pytest.raises(errors.InvalidDesiredState) as refused:
        desired.load([path])
    problem = next(p for p in refused.value.problems if not p.warning)
    assert problem.field == field
    assert problem.line >= 8  # spec.aws starts on line 8
    assert problem.file.endswith("desired.yaml")
    assert problem.allowed


def test_the_same_names_in_two_accounts_are_two_services(tmp_path: Path) -> None:
    path = _desired(tmp_path, desired_yaml(), _second_service("v1.1"))
    loaded = desired.load([path]).services
    assert [s.aws.account for s in loaded] == ["default", accounts.SECOND_ACCOUNT]
    twice = _desired(
        tmp_path / "twice",
        _second_service("v1.1"),
        _second_service("v1.1").replace("feedback-second", "feedback-third"),
    )
    with pytest.raises(errors.InvalidDesiredState, match="of account 111111111111"):
        desired.load([twice])
