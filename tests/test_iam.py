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

parliament lints both policies: no finding from its default auditors; its community auditors
report only what any policy that may pass a role to EC2 gets (see ``test_parliament``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler import desired
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.model import TAG_OWNER
from reconciler.pipeline.apply import apply
from reconciler.pipeline.plan import retry
from reconciler.pipeline.reconcile import Reconciler
from reconciler.sandbox import Sandbox
from tests.conftest import REGION
from tests.iam_calls import Call, Evaluator, Launch, Request, Resource, requests
from tests.iam_record import Recorder
from tests.test_scenarios import GROUP, TICK, World, degraded, desired_file

ROOT = Path(__file__).resolve().parent.parent
IAM = ROOT / "deploy" / "iam"
DAEMON = IAM / "reconciler-daemon.json"
PR = IAM / "reconciler-pr-diff.json"
ACCOUNT = "123456789012"  # moto's account
OWNER = "asg-reconciler"
PHASES = ("deploy", "broken deploy", "rollback", "drift correction", "retry", "pause")


def document(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def is_write(call: Call) -> bool:
    return not call.operation.startswith(("Describe", "Get", "List"))


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
        _drive(World(sandbox_server, aws, tmp_path_factory.mktemp("iam")), recorder)
        assert recorder.counted == len(recorder.calls), "a call went around the recorder"
        yield recorder.calls
    finally:
        sandbox_server.clock.speed = speed
        sandbox_server.reseed()


def _drive(world: World, recorder: Recorder) -> None:
    recorder.phase = "deploy"
    world.converge("v1.1")
    recorder.phase = "broken deploy"
    v2 = world.specs("v2.0")
    world.until(v2, degraded, limit=80)  # AWS retries failing new instances for an hour first
    recorder.phase = "rollback"
    world.until(v2, lambda _: world.statuses()[-1] == "RollbackSuccessful")
    recorder.phase = "drift correction"
    _drift(world)
    world.sandbox.clock.advance(TICK)
    world.tick(v2)
    recorder.phase = "retry"
    (outcome,) = world.reconciler.compute(v2)
    planned = retry(outcome)
    assert planned is not None, "nothing to retry: the broken deploy was not recorded as failed"
    apply(world.aws, planned, region=outcome.spec.region)  # what `reconciler retry` does
    world.tick(v2)  # rolls v2.0 out again
    recorder.phase = "pause"
    paused = _paused(world, "v2.0")
    for _ in range(3):
        world.sandbox.clock.advance(TICK)
        world.tick(paused)


def _drift(world: World) -> None:
    """Someone else changes the group and the target group (not recorded: another client)."""
    other = Aws(region=REGION, endpoint_url=world.sandbox.endpoint)
    seeded = world.sandbox.seeded
    assert seeded is not None
    other.call(
        "elbv2",
        "modify_target_group",
        TargetGroupArn=seeded.target_group_arn,
        HealthCheckIntervalSeconds=10,
    )
    other.call("autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MaxSize=7)


def _paused(world: World, tag: str) -> Sequence[Any]:
    """The spec with ``spec.paused: true``, the line ``reconciler pause`` commits."""
    path = desired_file(world.tmp_path, tag)
    text = path.read_text()
    if "  paused: true\n" not in text:
        path.write_text(text.replace("\nspec:\n", "\nspec:\n  paused: true\n", 1))
    specs = desired.load([path]).services
    assert all(s.paused for s in specs)
    return specs


def writes(calls: Sequence[Call], phase: str) -> Counter[str]:
    return Counter(c.operation for c in calls if c.phase == phase and is_write(c))


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


def denied(calls: Sequence[Call], policy: Path) -> list[tuple[str, str, Request]]:
    evaluator = Evaluator(document(policy), account=ACCOUNT)
    return [(c.phase, c.operation, r) for c in calls for r in evaluator.denied(c)]


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


def foreign_owner(resource: Resource) -> Resource:
    return replace(resource, tags={**resource.tags, TAG_OWNER: "someone-else"})


def untagged_other(resource: Resource) -> Resource:
    """An untagged group or target group of someone else: another name, no tag of ours."""
    arn = resource.arn.replace(f"autoScalingGroupName/{GROUP}", "autoScalingGroupName/billing")
    arn = arn.replace("targetgroup/feedback-tg/", "targetgroup/billing-tg/")
    tags = {k: v for k, v in resource.tags.items() if not k.startswith("asg-reconciler/")}
    return Resource(arn, tags)


def tag_scoped_writes(calls: Sequence[Call]) -> list[Call]:
    return [c for c in calls if is_write(c) and c.service in ("autoscaling", "ec2", "elbv2")]


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

TEMPLATE = f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/lt-0123456789abcdef0"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/feedback-app-instance-role"


def launch_call(*, template_tags: dict[str, str], role: str | None) -> Call:
    group = Resource(
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:1:autoScalingGroupName/{GROUP}",
        {TAG_OWNER: OWNER},
    )
    data = {"ImageId": "ami-12345678", "SecurityGroupIds": ["sg-1"]}
    launch = Launch(Resource(TEMPLATE, template_tags), data, (), role)
    return Call(
        "unit", "autoscaling", "UpdateAutoScalingGroup", {}, REGION, ACCOUNT, (group,), launch
    )


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
        listed = {k.lower() for k in _keys(info)}
        wanted = key.lower() + ("${tagkey}" if key.endswith("/") else "")
        assert wanted in listed or key.lower() in listed, (action, key, sorted(listed))


def _keys(info: dict[str, Any]) -> set[str]:
    """The action's own keys, and those of each resource type it acts on."""
    keys: set[str] = set()
    types = set()
    for resource in info["resource_types"]:
        keys.update(resource.get("condition_keys", []))
        types.add(resource["resource_type"].rstrip("*"))
    for resource in info["service_resources"]:
        if resource["resource"] in types:
            keys.update(resource.get("condition_keys", []))
    return keys


# -- parliament -------------------------------------------------------------------------------

# Reported by parliament's community auditors for any policy that allows iam:PassRole (and
# RunInstances) at all, whatever its resources and conditions: they look at action names only.
# The daemon needs both because Auto Scaling checks them for the caller (iam_calls docstring);
# test_launch_checks and test_pass_role_and_launch_requests prove the scoping instead.
NAME_ONLY = {"PERMISSIONS_MANAGEMENT_ACTIONS", "PRIVILEGE_ESCALATION"}


@pytest.mark.parametrize("path", [DAEMON, PR], ids=lambda p: p.name)
def test_parliament(path: Path) -> None:
    import parliament  # type: ignore[import-untyped]

    default = parliament.analyze_policy_string(path.read_text()).findings
    assert not [(f.issue, f.detail) for f in default]
    community = parliament.analyze_policy_string(
        path.read_text(), include_community_auditors=True
    ).findings
    issues = {f.issue for f in community}
    assert issues <= NAME_ONLY, issues
    if path == PR:
        assert not issues
