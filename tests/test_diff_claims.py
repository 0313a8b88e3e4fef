"""diff refuses what it has no right to touch, and leaves alone what the file does not manage:
issue 17 #2, #7 and #8 as plain data (the sandbox cases are in test_claims_e2e.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler import errors
from reconciler.cli import render
from reconciler.desired import service_schema
from reconciler.model import (
    DesiredService,
    ModifyTargetGroup,
    Phase,
    ScalingSpec,
    ServiceOutcome,
    UpdateAutoScalingGroup,
    fields,
    value_text,
)
from reconciler.pipeline.diff import diff
from reconciler.pipeline.observe.shapes import parse_group
from reconciler.pipeline.plan import plan
from reconciler.pipeline.status import service_status
from tests.factories import (
    DIGEST_B,
    GROUP,
    OWNER,
    POLICY,
    TARGET_GROUP,
    TARGET_GROUP_ARN,
    cpu_policy,
    desired_service,
    group_spec,
    health_check,
    observed_service,
    resolved_image,
    rollout_spec,
    target_group_spec,
    with_group,
    with_target_group,
)

OTHER_ARN = TARGET_GROUP_ARN.replace("feedback-tg/0123456789abcdef", "other-tg/fedcba9876543210")


@pytest.mark.parametrize(
    ("attached", "blocked"),
    [
        ((TARGET_GROUP_ARN,), False),
        ((OTHER_ARN, TARGET_GROUP_ARN), False),
        ((), True),
        ((OTHER_ARN,), True),
    ],
)
def test_the_target_group_is_touched_only_when_the_group_is_attached_to_it(
    attached: tuple[str, ...], blocked: bool
) -> None:
    d = desired_service()
    o = with_group(observed_service(d), target_group_arns=attached, tags={})
    result = diff(d, o, owner=OWNER)
    if blocked:
        assert result.phase is Phase.BLOCKED and result.changes == ()
        assert f"target group {TARGET_GROUP} is not attached to auto scaling group {GROUP}" in (
            result.message
        )
    else:
        assert result.phase is not Phase.BLOCKED
        assert [c.field for c in result.changes] == ["tags"]  # adopting the group goes ahead


def _raw_group(**members: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "AutoScalingGroupName": GROUP,
        "MinSize": 1,
        "MaxSize": 2,
        "DesiredCapacity": 1,
    }
    return {**base, **members}


@pytest.mark.parametrize(
    ("members", "arns"),
    [
        ({}, ()),
        ({"TargetGroupARNs": [TARGET_GROUP_ARN]}, (TARGET_GROUP_ARN,)),
        (
            {"TrafficSources": [{"Identifier": TARGET_GROUP_ARN, "Type": "elbv2"}]},
            (TARGET_GROUP_ARN,),
        ),
        (
            {
                "TargetGroupARNs": [TARGET_GROUP_ARN],
                "TrafficSources": [
                    {"Identifier": TARGET_GROUP_ARN, "Type": "elbv2"},
                    {"Identifier": OTHER_ARN, "Type": "elbv2"},
                ],
            },
            (TARGET_GROUP_ARN, OTHER_ARN),
        ),
        ({"TrafficSources": [{"Identifier": "my-classic-lb", "Type": "elb"}]}, ()),
        (
            {
                "TrafficSources": [
                    {"Identifier": "arn:aws:vpc-lattice:x:1:service/s", "Type": "vpc-lattice"}
                ]
            },
            (),
        ),
    ],
)
def test_attachments_are_read_from_both_of_the_apis_that_make_them(
    members: dict[str, Any], arns: tuple[str, ...]
) -> None:
    assert parse_group(_raw_group(**members)).target_group_arns == arns


# ------------------------------------------------------------------------------------------------
# #7: an omitted field is not managed
# ------------------------------------------------------------------------------------------------

# A value AWS may hold for each optional setting, other than the one the factories declare.
HAND_MADE: dict[str, object] = {
    "healthCheckType": "EC2",
    "healthCheckGracePeriod": 60,
    "path": "/healthz",
    "port": "traffic-port",
    "protocol": "HTTPS",
    "intervalSeconds": 10,
    "timeoutSeconds": 3,
    "healthyThreshold": 5,
    "unhealthyThreshold": 3,
    "matcher": "200-299",
}
GROUP_OPTIONAL = [f for f in fields.GROUP if f.optional and f.attr != "desired_capacity"]
OPTIONAL = [(f, "group") for f in GROUP_OPTIONAL] + [(f, "tg") for f in fields.HEALTH_CHECK]


def test_every_optional_setting_has_a_hand_made_value_here() -> None:
    assert {f.yaml for f, _ in OPTIONAL} == set(HAND_MADE)


def _drifted(field: fields.Field, where: str, *, managed: bool) -> tuple[DesiredService, Any]:
    unmanaged = frozenset() if managed else frozenset({field.yaml})
    if where == "group":
        d = desired_service(auto_scaling_group=group_spec(unmanaged=unmanaged))
        o = with_group(observed_service(d), **{field.attr: HAND_MADE[field.yaml]})
    else:
        d = desired_service(target_group=target_group_spec(unmanaged=unmanaged))
        hc = health_check(**{field.attr: HAND_MADE[field.yaml]})
        o = with_target_group(observed_service(d), health_check=hc)
    return d, o


@pytest.mark.parametrize(("field", "where"), OPTIONAL, ids=[f.yaml for f, _ in OPTIONAL])
def test_an_omitted_setting_is_left_as_aws_has_it_and_the_diff_says_so(
    field: fields.Field, where: str
) -> None:
    d, o = _drifted(field, where, managed=False)
    result = diff(d, o, owner=OWNER)
    assert result.changes == () and result.phase is Phase.IN_SYNC
    prefix = "autoScalingGroup." if where == "group" else "targetGroup.healthCheck."
    shown = value_text(HAND_MADE[field.yaml])  # type: ignore[arg-type]
    assert any(
        note.startswith("not managed") and f"{prefix}{field.yaml} = {shown}" in note
        for note in result.notes
    ), result.notes
    assert plan(d, o, result, owner=OWNER).actions == ()


@pytest.mark.parametrize(("field", "where"), OPTIONAL, ids=[f.yaml for f, _ in OPTIONAL])
def test_a_declared_setting_is_still_enforced(field: fields.Field, where: str) -> None:
    d, o = _drifted(field, where, managed=True)
    result = diff(d, o, owner=OWNER)
    assert [c.field.rsplit(".", 1)[-1] for c in result.changes] == [field.yaml]
    assert not any(field.yaml in note for note in result.notes)


def test_a_health_check_write_keeps_the_fields_the_file_omits() -> None:
    d = desired_service(
        target_group=target_group_spec(unmanaged=frozenset({"intervalSeconds", "matcher"}))
    )
    aws_has = health_check(interval_seconds=10, matcher="200-299", path="/old")
    o = with_target_group(observed_service(d), health_check=aws_has)
    result = diff(d, o, owner=OWNER)
    assert [c.field for c in result.changes] == ["healthCheck.path"]
    (action,) = plan(d, o, result, owner=OWNER).actions
    assert isinstance(action, ModifyTargetGroup)
    assert action.health_check == health_check(interval_seconds=10, matcher="200-299")


def test_an_omitted_capacity_is_shown_as_not_managed() -> None:
    d = desired_service(auto_scaling_group=group_spec(desired_capacity=None), scaling=None)
    o = with_group(observed_service(d), desired_capacity=3)
    result = diff(d, o, owner=OWNER)
    assert result.changes == ()
    assert any("autoScalingGroup.desiredCapacity = 3" in n for n in result.notes)


# ------------------------------------------------------------------------------------------------
# #8: any scaling policy owns capacity
# ------------------------------------------------------------------------------------------------

HAND_POLICY = "team-cpu-tracking"


@pytest.mark.parametrize(
    ("scaling", "pinned", "policies", "capacity_change", "warning"),
    [
        # nobody owns capacity: the file's number is enforced
        (None, 2, (), True, False),
        # a hand-made policy owns it: not reset, and the diff warns
        (None, 2, (HAND_POLICY,), False, True),
        # ours, which the file no longer declares, is deleted this pass: the number is enforced
        (None, 2, (POLICY,), True, False),
        # the file's own policy owns it (documented): a note, not a warning
        (70.0, 2, (POLICY,), False, False),
        # ours and a hand-made one: not reset, warned
        (70.0, 2, (POLICY, HAND_POLICY), False, True),
        # the file pins nothing: nothing to enforce or warn about
        (None, None, (HAND_POLICY,), False, False),
    ],
)
def test_a_scaling_policy_owns_capacity(
    scaling: float | None,
    pinned: int | None,
    policies: tuple[str, ...],
    capacity_change: bool,
    warning: bool,
) -> None:
    d = desired_service(
        auto_scaling_group=group_spec(desired_capacity=pinned),
        scaling=ScalingSpec(scaling) if scaling is not None else None,
    )
    observed = dataclasses.replace(
        observed_service(d),
        scaling_policies=tuple(cpu_policy(name=n, target_value=scaling or 50.0) for n in policies),
    )
    o = with_group(observed, desired_capacity=4)
    result = diff(d, o, owner=OWNER)
    assert ("desiredCapacity" in [c.field for c in result.changes]) is capacity_change
    warnings = [n for n in result.notes if n.startswith("warning:")]
    assert bool(warnings) is warning, result.notes
    if warning:
        assert HAND_POLICY in warnings[0] and "desiredCapacity 2" in warnings[0]
    acts = plan(d, o, result, owner=OWNER).actions
    sets_capacity = any(
        isinstance(a, UpdateAutoScalingGroup) and "desired_capacity" in a.settings for a in acts
    )
    assert sets_capacity is capacity_change


# Every optional field of the schema, and what omitting it means. A setting AWS holds on an
# existing resource is not managed when omitted; the others shape only what the reconciler does
# when it acts (a refresh's preferences, the traffic steps, the analysis), or name the
# reconciler's own resource (``scaling``: its policy, deleted when dropped; hand-made ones stay).
_AWS_SETTING = "not managed when omitted"
_BEHAVIOUR = "the reconciler's own behaviour, with the documented default"
_ROLLOUT = [
    "minHealthyPercentage", "maxHealthyPercentage", "instanceWarmup", "checkpointPercentages",
    "checkpointDelay", "autoRollback", "skipMatching", "scaleInProtectedInstances",
    "standbyInstances", "bakeTime", "alarms", "analysis",
]  # fmt: skip
_ANALYSIS = [
    "enabled", "interval", "failureLimit", "minRequests", "baselineWindow", "unhealthyInstances",
    "errorRate", "errorRate.enabled", "errorRate.max", "errorRate.maxIncrease", "latencyP99",
    "latencyP99.enabled", "latencyP99.max", "latencyP99.maxRatio",
]  # fmt: skip
OPTIONAL_FIELDS: dict[str, str] = {
    **{f"spec.autoScalingGroup.{f.yaml}": _AWS_SETTING for f in fields.GROUP if f.optional},
    **{f"spec.targetGroup.healthCheck.{f.yaml}": _AWS_SETTING for f in fields.HEALTH_CHECK},
    **{
        f"spec.{name}": _BEHAVIOUR
        for name in ("paused", "imagePollInterval", "image.tag", "image.digest", "strategy")
    },
    **{
        f"spec.blueGreen{name}": _BEHAVIOUR
        for name in (
            "",
            ".listener.rulePriority",
            ".trafficSteps",
            ".stepPause",
            ".scaleDownDelay",
            ".warmStandby",
        )
    },
    "spec.blueGreen.scaleDownDelay": _BEHAVIOUR,
    "spec.blueGreen.warmStandby": _BEHAVIOUR,
    "spec.rollout": _BEHAVIOUR,
    **{f"spec.rollout.{name}": _BEHAVIOUR for name in _ROLLOUT},
    **{f"spec.rollout.analysis.{name}": _BEHAVIOUR for name in _ANALYSIS},
    "spec.scaling": "the reconciler's own policy: deleted when dropped, others left alone",
    # Whose credentials observe and write: the daemon's own when omitted.
    "spec.aws": "the service's account: the daemon's own credentials when omitted",
    "spec.aws.externalId": "sent with AssumeRole only when given",
    # Rendered into the UserData the reconciler writes: absent renders no -e and no login.
    **{
        f"spec.{name}": "part of the rendered boot script"
        for name in (
            "env",
            "image.pullCredentials",
            "image.pullCredentials.ssmParameter",
            "image.pullCredentials.secretsManager",
        )
    },
}


def _optional(node: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    required = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        where = f"{path}.{name}" if path else name
        if name not in required:
            found[where] = sub
        found.update(_optional(sub, where))
    return found


def test_every_optional_field_of_the_schema_is_classified() -> None:
    assert set(_optional(service_schema.schema())) == set(OPTIONAL_FIELDS)


@pytest.mark.parametrize("path", [p for p, kind in OPTIONAL_FIELDS.items() if kind == _AWS_SETTING])
def test_the_schema_says_an_omitted_aws_setting_is_left_alone(path: str) -> None:
    node, parent = service_schema.schema(), {}
    for name in path.split("."):
        parent, node = node, node["properties"][name]
    # The field's description says it, or its section's does for every field in it.
    text = node.get("description", "") + parent.get("description", "")
    assert "not managed" in text or "left alone" in text, path


# ------------------------------------------------------------------------------------------------
# #11: every rollout field the file sets shows in the diff and the pull-request comment
# ------------------------------------------------------------------------------------------------

ROLLOUT_VALUES: list[tuple[str, str, object, str]] = [
    ("minHealthyPercentage", "min_healthy_percentage", 100, "minHealthyPercentage 100"),
    ("maxHealthyPercentage", "max_healthy_percentage", 150, "maxHealthyPercentage 150"),
    ("instanceWarmup", "instance_warmup", 45, "instanceWarmup 45"),
    ("checkpointPercentages", "checkpoint_percentages", (20, 100), "[20, 100]"),
    ("checkpointDelay", "checkpoint_delay", 900, "checkpointDelay 900"),
    ("autoRollback", "auto_rollback", False, "autoRollback false"),
    ("skipMatching", "skip_matching", True, "skipMatching true"),
    ("scaleInProtectedInstances", "scale_in_protected_instances", "Wait", "Instances Wait"),
    ("standbyInstances", "standby_instances", "Terminate", "standbyInstances Terminate"),
    ("bakeTime", "bake_time", 600, "bakeTime 600"),
    ("alarms", "alarms", ("high-5xx",), "alarms [high-5xx]"),
]


def test_every_rollout_field_of_the_schema_is_covered_here() -> None:
    rollout = service_schema.schema()["properties"]["spec"]["properties"]["rollout"]
    assert set(rollout["properties"]) - {"analysis"} == {yaml for yaml, *_ in ROLLOUT_VALUES}


@pytest.mark.parametrize(
    ("yaml", "attr", "value", "shown"), ROLLOUT_VALUES, ids=[r[0] for r in ROLLOUT_VALUES]
)
def test_a_rollout_policy_change_without_a_rollout_shows_in_the_diff_and_the_comment(
    yaml: str, attr: str, value: object, shown: str
) -> None:
    d = desired_service(rollout=rollout_spec(**{attr: value}))
    result = diff(d, observed_service(desired_service()), owner=OWNER)
    assert result.phase is Phase.IN_SYNC  # nothing to write now: the next refresh carries it
    assert any(n.startswith("rollout policy") and shown in n for n in result.notes), result.notes
    assert shown in render.text([result])
    assert shown in render.markdown([result])


def test_a_rollout_that_starts_shows_every_preference_in_its_plan() -> None:
    d = desired_service(
        image=resolved_image(tag="v1.1", digest=DIGEST_B),
        rollout=rollout_spec(
            skip_matching=True, scale_in_protected_instances="Ignore", standby_instances="Wait"
        ),
    )
    result = diff(d, observed_service(desired_service()), owner=OWNER)
    assert result.rollout_plan is not None and result.rollout_plan.rolls_out
    for out in (render.text([result]), render.markdown([result])):
        assert "skipMatching true" in out
        assert "scale-in protected instances: Ignore" in out
        assert "standby instances: Wait" in out
    assert not any(n.startswith("rollout policy") for n in result.notes)  # the plan says it


# ------------------------------------------------------------------------------------------------
# The class: every sync claim rests on an observation
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", [None, errors.AwsThrottled("DescribeAutoScalingGroups: AWS unreachable", delay=5.0)]
)
def test_status_claims_nothing_about_a_service_it_did_not_compare(
    error: Exception | None,
) -> None:
    status = service_status(ServiceOutcome(spec=desired_service().spec, error=error))
    ready = status.condition("Ready")
    assert not ready.status
    assert ready.reason not in ("InSync", "OutOfSync")
    assert status.pending_changes == () and status.applied is None
