"""The shipped IAM policies, proven on the calls the reconciler really makes.

One recording drives the real reconciler against the sandbox through deploy → broken deploy →
rollback → drift correction → retry → pause, and keeps every AWS call with the resources it acts
on as they were at that moment (tests/iam_record.py). Each call becomes the authorization
requests AWS makes for it (tests/iam_calls.py, sourced from the Service Authorization Reference)
and is judged by principalmapper's local policy simulation, not by code of ours:

- every call of the daemon is allowed by ``reconciler-daemon.json``, and every call of ``diff``
  by ``reconciler-pr-diff.json``; the leader lease's calls only on its table;
- the same writes on resources another owner tagged are denied, and so are they on an untagged
  group or target group that is not the managed one.

The seed's template names an instance profile, so the recording also shows iam:PassRole judged:
allowed for the instance role to EC2, denied for any other role.

parliament lints both policies: no finding from its default auditors, none from its community
auditors on the PR policy, and on the daemon policy exactly the two that flag iam:PassRole by
action name alone (why they cannot be tightened away: the comment above
``test_parliament_flags_pass_role_by_name_only``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler import desired, errors
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.model import TAG_OWNER, AwsAccess
from reconciler.pipeline.reconcile import Reconciler
from reconciler.sandbox import Sandbox, accounts
from reconciler.sandbox.seed import INSTANCE_ROLE
from tests.conftest import REGION
from tests.iam_calls import (
    ACCOUNT,
    OWNER,
    Call,
    Evaluator,
    Request,
    Resource,
    condition_keys,
    denied,
    document,
    foreign_owner,
    is_write,
    launch_call,
    requests,
    tag_scoped_writes,
    untagged_other,
    writes,
)
from tests.iam_record import Recorder, record_scenario
from tests.test_scenarios import GROUP, World, desired_file

ROOT = Path(__file__).resolve().parent.parent
IAM = ROOT / "deploy" / "iam"
DAEMON = IAM / "reconciler-daemon.json"
PR = IAM / "reconciler-pr-diff.json"
PHASES = ("deploy", "broken deploy", "rollback", "drift correction", "retry", "pause")


# -- the recording ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recording(
    sandbox_server: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Call]]:
    """Every call of the six phases (module-wide: the scenario takes a while)."""
    sandbox_server.reseed()
    speed = sandbox_server.clock.speed
    aws = Aws(region=REGION, endpoint_url=sandbox_server.endpoint)
    recorder = Recorder(aws, endpoint=sandbox_server.endpoint, account=ACCOUNT)
    try:
        record_scenario(World(sandbox_server, aws, tmp_path_factory.mktemp("iam")), recorder)
        assert recorder.counted == len(recorder.calls), "a call went around the recorder"
        yield recorder.calls
    finally:
        sandbox_server.clock.speed = speed
        sandbox_server.reseed()


def test_the_recording_covers_the_scenario(recording: list[Call]) -> None:
    """Each phase made the writes it stands for, so the verdicts below are about them."""
    assert {c.phase for c in recording} == set(PHASES)
    deploy = writes(recording, "deploy")
    for operation in ("CreateOrUpdateTags", "CreateTags", "AddTags", "StartInstanceRefresh"):
        assert deploy[operation] >= 1, (operation, deploy)
    assert deploy["CreateLaunchTemplateVersion"] == 1
    broken = writes(recording, "broken deploy")
    assert broken["StartInstanceRefresh"] == 1
    assert broken["CreateOrUpdateTags"] == 1  # the failed fingerprint, as the rollback starts
    assert writes(recording, "rollback") == Counter()  # AWS rolls back; we only watch
    drift = writes(recording, "drift correction")
    assert drift["ModifyTargetGroup"] == 1 and drift["UpdateAutoScalingGroup"] == 1
    again = writes(recording, "retry")
    assert again["DeleteTags"] == 1 and again["StartInstanceRefresh"] == 1
    assert writes(recording, "pause") == Counter()
    launches = [c for c in recording if c.launch is not None]
    assert launches, "no call pointed a group at a launch template version"
    assert all(c.resources and c.resources[0].tags.get(TAG_OWNER) == OWNER for c in launches)


# -- every call is allowed ----------------------------------------------------------------------


def test_the_daemon_policy_allows_the_first_deploy(recording: list[Call]) -> None:
    # The target group is tagged as ours before ModifyTargetGroup, which the policy allows only
    # on owned target groups: with the old order this was denied on every tick, for ever.
    calls = [c for c in recording if c.phase == "deploy"]
    assert any(c.operation == "ModifyTargetGroup" for c in calls)
    assert not denied(calls, DAEMON)


@pytest.mark.parametrize("phase", PHASES[1:])
def test_the_daemon_policy_allows_every_later_call(recording: list[Call], phase: str) -> None:
    calls = [c for c in recording if c.phase == phase]
    assert calls
    assert not denied(calls, DAEMON)


# -- others' resources are denied ---------------------------------------------------------------


def test_writes_on_a_resource_of_another_owner_are_denied(recording: list[Call]) -> None:
    evaluator = Evaluator(document(DAEMON), account=ACCOUNT)
    calls = tag_scoped_writes(recording)
    assert len(calls) >= 10
    allowed = [c for c in calls if not evaluator.denied(c.with_resources(foreign_owner))]
    assert not allowed, [(c.phase, c.operation) for c in allowed]


def test_writes_on_an_untagged_foreign_group_are_denied(recording: list[Call]) -> None:
    evaluator = Evaluator(document(DAEMON), account=ACCOUNT)
    calls = [c for c in tag_scoped_writes(recording) if c.service in ("autoscaling", "elbv2")]
    assert {c.service for c in calls} == {"autoscaling", "elbv2"}
    allowed = [c for c in calls if not evaluator.denied(c.with_resources(untagged_other))]
    assert not allowed, [(c.phase, c.operation) for c in allowed]


# -- the instance role is passed to EC2, and no other ------------------------------------------


def test_the_recording_passes_the_instance_role_to_ec2(recording: list[Call]) -> None:
    """The seed's template names an instance profile (created through the sandbox's IAM API),
    so every call that points the group at a version is also an iam:PassRole of its role, to
    EC2; writing the version passes nothing (tests/iam_calls.py: what AWS checks, and where)."""
    evaluator = Evaluator(document(DAEMON), account=ACCOUNT)
    launches = [c for c in recording if c.launch is not None]
    assert {c.phase for c in launches} >= {"deploy", "retry"}
    passed = [r for c in launches for r in requests(c) if r.action == "iam:PassRole"]
    assert len(passed) == len(launches)
    assert all(r.resource == ROLE for r in passed)
    assert all(r.context == {"iam:PassedToService": "ec2.amazonaws.com"} for r in passed)
    assert all(evaluator.allows(r) for r in passed)
    admin = f"arn:aws:iam::{ACCOUNT}:role/admin"
    for call in launches:
        assert call.launch is not None
        other = replace(call, launch=replace(call.launch, role_arn=admin))
        assert [(r.action, r.resource) for r in evaluator.denied(other)] == [
            ("iam:PassRole", admin)
        ]
    versions = [c for c in recording if c.operation == "CreateLaunchTemplateVersion"]
    assert versions
    assert not [r for c in versions for r in requests(c) if r.action == "iam:PassRole"]


def test_the_pr_policy_denies_every_write(recording: list[Call]) -> None:
    evaluator = Evaluator(document(PR), account=ACCOUNT)
    calls = [c for c in recording if is_write(c)]
    assert calls and all(evaluator.denied(c) for c in calls)


# -- diff under the PR policy -------------------------------------------------------------------


def test_the_pr_policy_allows_every_call_of_diff(sandbox: Sandbox, tmp_path: Path) -> None:
    aws = Aws(region=REGION, endpoint_url=sandbox.endpoint)
    recorder = Recorder(aws, endpoint=sandbox.endpoint, account=ACCOUNT)
    recorder.phase = "diff"
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    for tag in ("v1.1", "v2.0"):
        (outcome,) = reconciler.compute(desired.load([desired_file(tmp_path, tag)]).services)
        assert outcome.error is None and outcome.diff is not None and outcome.diff.changes
    assert recorder.counted == len(recorder.calls) >= 8
    assert not [c for c in recorder.calls if is_write(c)]
    assert not denied(recorder.calls, PR)
    assert {c.service for c in recorder.calls} >= {"autoscaling", "ec2", "elbv2", "ecr"}


# -- the leader lease under the daemon policy -------------------------------------------------


@pytest.mark.parametrize(("table", "allowed"), [("asg-reconciler-lease", True), ("other", False)])
def test_the_daemon_policy_allows_the_lease_on_its_table_only(
    sandbox: Sandbox, table: str, allowed: bool
) -> None:
    """First start (the table is created), acquire, renew, release: every call on that table."""
    from reconciler.daemon.lease import Lease

    aws = Aws(region=REGION, endpoint_url=sandbox.endpoint)
    recorder = Recorder(aws, endpoint=sandbox.endpoint, account=ACCOUNT)
    now = [1000.0]
    lease = Lease(
        aws=aws,
        table=table,
        name="asg-reconciler",
        holder="a",
        wall_clock=lambda: now[0],
        monotonic=lambda: now[0],
    )
    assert lease.ensure()
    now[0] += 10
    assert lease.ensure()  # a renewal
    lease.release()
    operations = {c.operation for c in recorder.calls}
    assert {"CreateTable", "PutItem", "UpdateItem", "DeleteItem"} <= operations, operations
    assert recorder.counted == len(recorder.calls)
    assert (not denied(recorder.calls, DAEMON)) is allowed
    if not allowed:
        assert all(denied([c], DAEMON) for c in recorder.calls)


# -- the mapping and the evaluator, on plain data -----------------------------------------------

ROLE = f"arn:aws:iam::{ACCOUNT}:role/{INSTANCE_ROLE}"


@pytest.mark.parametrize(
    ("template_tags", "role", "allowed"),
    [
        ({TAG_OWNER: OWNER}, ROLE, True),
        ({TAG_OWNER: OWNER}, None, True),
        ({TAG_OWNER: "someone-else"}, ROLE, False),  # RunInstances from a foreign template
        ({}, None, False),  # ... or from an untagged one
        ({TAG_OWNER: OWNER}, f"arn:aws:iam::{ACCOUNT}:role/admin", False),  # another role
    ],
)
def test_launch_checks(template_tags: dict[str, str], role: str | None, allowed: bool) -> None:
    evaluator = Evaluator(document(DAEMON), account=ACCOUNT)
    assert (not evaluator.denied(launch_call(template_tags=template_tags, role=role))) is allowed


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        (Request("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}), True),
        (Request("iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}), False),
        (Request("iam:PassRole", ROLE, {}), False),
        (Request("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*", {}), False),
    ],
)
def test_pass_role_and_launch_requests(request_: Request, allowed: bool) -> None:
    assert Evaluator(document(DAEMON), account=ACCOUNT).allows(request_) is allowed


@pytest.mark.parametrize(
    ("tags", "allowed"),
    [
        ({"asg-reconciler/failed-fingerprint": "abc"}, True),
        ({TAG_OWNER: OWNER}, True),
        ({TAG_OWNER: "someone-else"}, False),  # handing our group to another owner
        ({"team": "payments"}, False),  # a key that is not ours
        ({"asg-reconciler/x": "1", "Name": "n"}, False),
    ],
)
def test_tag_writes_on_an_owned_group_are_for_our_keys_only(
    tags: dict[str, str], allowed: bool
) -> None:
    group = Resource(
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:1:autoScalingGroupName/{GROUP}",
        {TAG_OWNER: OWNER},
    )
    params = {"Tags": [{"ResourceId": GROUP, "Key": k, "Value": v} for k, v in tags.items()]}
    call = Call("unit", "autoscaling", "CreateOrUpdateTags", params, REGION, ACCOUNT, (group,))
    assert (not Evaluator(document(DAEMON), account=ACCOUNT).denied(call)) is allowed
    assert requests(call)[0].context["aws:TagKeys"] == sorted(tags)


ALARM = Resource(f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:feedback-5xx")
OURS = launch_call(template_tags={}, role=None).resources[0]  # the owned group
UNTAGGED = untagged_other(OURS)


@pytest.mark.parametrize(
    ("service", "operation", "resource", "daemon", "pr"),
    [  # the rollout analysis's calls; a diff taken during a refresh reads them too
        ("cloudwatch", "GetMetricData", None, True, True),
        ("cloudwatch", "DescribeAlarms", ALARM, True, True),
        ("autoscaling", "DescribeScalingActivities", None, True, True),
        ("elbv2", "DescribeTargetHealth", None, True, True),
        ("autoscaling", "RollbackInstanceRefresh", OURS, True, False),
        ("autoscaling", "RollbackInstanceRefresh", foreign_owner(OURS), False, False),
        ("autoscaling", "RollbackInstanceRefresh", UNTAGGED, False, False),
    ],
)
def test_the_rollout_analysis_calls(
    service: str, operation: str, resource: Resource | None, daemon: bool, pr: bool
) -> None:
    call = Call("unit", service, operation, {}, REGION, ACCOUNT, (resource,) if resource else ())
    for path, allowed in ((DAEMON, daemon), (PR, pr)):
        assert (not Evaluator(document(path), account=ACCOUNT).denied(call)) is allowed, path.name


def test_condition_keys_are_ones_aws_evaluates(recording: list[Call]) -> None:
    """Every key the mapping sets is listed for that action in the Service Authorization
    Reference (parliament's bundled copy), so no verdict rests on a key AWS would not send."""
    from parliament.statement import get_privilege_info  # type: ignore[import-untyped]

    seen: set[tuple[str, str]] = set()
    for call in recording:
        for request in requests(call):
            for key in request.context:
                seen.add((request.action, key.split("/", 1)[0] + ("/" if "/" in key else "")))
    assert seen
    for action, key in sorted(seen):
        service, name = action.split(":")
        info = get_privilege_info(service, name)
        listed = {k.lower() for k in condition_keys(info)}
        wanted = key.lower() + ("${tagkey}" if key.endswith("/") else "")
        assert wanted in listed or key.lower() in listed, (action, key, sorted(listed))


# -- parliament -------------------------------------------------------------------------------

# parliament's two community findings on the daemon policy are by action name alone: both
# auditors (parliament/community_auditors/permissions_management.py, privilege_escalation.py)
# test `policy.get_allowed_actions()`, which never reads an Allow's Resource or Condition and
# drops an action only under a Deny without Condition. Their documentation (config_override.yaml):
# - PERMISSIONS_MANAGEMENT_ACTIONS, MEDIUM, "Allows the principal to modify IAM, RAM,
#   identity-based policies, or resource based policies": iam:passrole is on its list;
# - PRIVILEGE_ESCALATION, HIGH, "a combination of Privilege Escalation actions established by
#   Rhino Security Labs": CreateEC2WithExistingIP is iam:passrole with ec2:runinstances.
# The daemon cannot drop either. Auto Scaling checks both for the caller when a group is pointed
# at a launch template with an instance profile ("Amazon EC2 Auto Scaling API permissions";
# iam:PassRole is a dependent action of UpdateAutoScalingGroup in the Service Authorization
# Reference; tests/iam_calls.py). Keeping the group on $Default/$Latest, where AWS skips the
# check, would give up pinned versions and rollback. The escalation named is real and bounded:
# whoever holds these credentials can run code as the instance role (writing that code is the
# daemon's job), and only as that role, only on EC2, only from owned templates, which
# test_launch_checks and test_the_recording_passes_the_instance_role_to_ec2 prove.
PASS_ROLE = "PassTheInstanceRoleOfTheLaunchTemplateToEc2"
RUN_INSTANCES = ("AutoScalingChecksRunInstancesThroughALaunchTemplate",)
ASSUME_ROLE = "AssumeTheReconcilerRoleInEachServiceAccount"


def community_findings(policy: dict[str, Any]) -> dict[str, Any]:
    import parliament  # type: ignore[import-untyped]

    text = json.dumps(policy)
    assert not parliament.analyze_policy_string(text).findings  # default auditors: none
    found = parliament.analyze_policy_string(text, include_community_auditors=True).findings
    return {f.issue: f.location for f in found}


def test_parliament_finds_nothing_on_the_pr_policy() -> None:
    assert community_findings(document(PR)) == {}


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        ((ASSUME_ROLE,), {"PERMISSIONS_MANAGEMENT_ACTIONS", "PRIVILEGE_ESCALATION"}),
        ((ASSUME_ROLE, PASS_ROLE), set()),  # the one statement behind both findings...
        ((ASSUME_ROLE, *RUN_INSTANCES), {"PERMISSIONS_MANAGEMENT_ACTIONS"}),  # ...with RunInstances
        # sts:AssumeRole into each service account's reconciler role returns credentials.
        ((PASS_ROLE,), {"CREDENTIALS_EXPOSURE"}),
    ],
)
def test_parliament_flags_pass_role_by_name_only(
    removed: tuple[str, ...], expected: set[str]
) -> None:
    policy = document(DAEMON)
    sids = {s["Sid"] for s in policy["Statement"]}
    assert set(removed) <= sids
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] not in removed]
    found = community_findings(policy)
    assert set(found) == expected
    if "PERMISSIONS_MANAGEMENT_ACTIONS" in found:
        assert found["PERMISSIONS_MANAGEMENT_ACTIONS"]["actions"] == ["iam:passrole"]
    if "PRIVILEGE_ESCALATION" in found:
        assert found["PRIVILEGE_ESCALATION"]["type"] == "CreateEC2WithExistingIP"


def test_no_narrowing_of_pass_role_clears_the_finding() -> None:
    """The daemon's PassRole alone, narrowed to one account's role, to EC2, for its instances:
    still flagged."""
    (only,) = [s for s in document(DAEMON)["Statement"] if s["Sid"] == PASS_ROLE]
    only["Resource"] = ROLE
    instances = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"
    only["Condition"]["ArnLike"] = {"iam:AssociatedResourceArn": instances}
    policy = {"Version": "2012-10-17", "Statement": [only]}
    assert set(community_findings(policy)) == {"PERMISSIONS_MANAGEMENT_ACTIONS"}


# -- cross-account: the daemon's sts:AssumeRole and the target role's trust policy -------------

TRUST = IAM / "cross-account-trust.json"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("arn:aws:iam::111111111111:role/asg-reconciler", True),
        ("arn:aws:iam::222222222222:role/asg-reconciler", True),  # any service account
        ("arn:aws:iam::111111111111:role/admin", False),  # no other role
        ("arn:aws:iam::111111111111:role/team/asg-reconciler", False),  # nor another path
    ],
)
def test_the_daemon_may_assume_the_reconciler_role_only(role: str, allowed: bool) -> None:
    request_ = Request("sts:AssumeRole", role, {})
    assert Evaluator(document(DAEMON), account=ACCOUNT).allows(request_) is allowed
    assert not Evaluator(document(PR), account=ACCOUNT).allows(request_)


@pytest.mark.parametrize(
    ("caller_role", "external_id", "allowed"),
    [
        ("asg-reconciler-daemon", "asg-reconciler-sandbox", True),
        ("asg-reconciler-daemon", "someone-elses", False),
        ("asg-reconciler-daemon", None, False),
        ("another-role", "asg-reconciler-sandbox", False),
    ],
)
def test_the_shipped_trust_policy_admits_the_daemon_role_with_its_external_id(
    sandbox: Sandbox, caller_role: str, external_id: str | None, allowed: bool
) -> None:
    """deploy/iam/cross-account-trust.json on the role in the service's account, judged by the
    sandbox as AWS judges AssumeRole: the daemon's role (itself assumed, as on an ops host)
    with the external id gets in; anything else is AccessDenied."""
    for name in ("asg-reconciler-daemon", "another-role"):
        accounts.create_role(ACCOUNT, name, accounts.trust_policy(ACCOUNT))
    target = accounts.create_role(
        accounts.SECOND_ACCOUNT, accounts.ROLE_NAME, json.loads(TRUST.read_text())
    )
    aws = Aws(region=REGION, endpoint_url=sandbox.endpoint)
    daemon = aws.assumed(AwsAccess(f"arn:aws:iam::{ACCOUNT}:role/{caller_role}"))
    service = daemon.assumed(AwsAccess(target, external_id))
    if allowed:
        identity = service.call("sts", "get_caller_identity")
        assert identity["Account"] == accounts.SECOND_ACCOUNT
        return
    with pytest.raises(errors.AwsApiError, match="AccessDenied") as refused:
        service.call("sts", "get_caller_identity")
    assert f"account {accounts.SECOND_ACCOUNT}, role {target}" in str(refused.value)
