"""Scaling policies in the sandbox as AWS keeps them: unique per (group, name), with Enabled."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.sandbox.seed import GREEN_GROUP, GROUP

POLICY = "feedback-cpu"


def put(aws: Aws, group: str, target: float, **extra: Any) -> None:
    aws.call(
        "autoscaling",
        "put_scaling_policy",
        AutoScalingGroupName=group,
        PolicyName=POLICY,
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": target,
            "DisableScaleIn": extra.pop("disable_scale_in", False),
        },
        **extra,
    )


def policies(aws: Aws, group: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"PolicyNames": [POLICY]}
    if group:
        params["AutoScalingGroupName"] = group
    found: list[dict[str, Any]] = aws.call("autoscaling", "describe_policies", **params)[
        "ScalingPolicies"
    ]
    return sorted(found, key=lambda p: str(p["AutoScalingGroupName"]))


@pytest.mark.usefixtures("sandbox")
def test_the_same_name_on_two_groups_is_two_policies(aws: Aws) -> None:
    put(aws, GROUP, 50.0)
    put(aws, GREEN_GROUP, 60.0)
    found = policies(aws)
    assert [
        (p["AutoScalingGroupName"], p["TargetTrackingConfiguration"]["TargetValue"]) for p in found
    ] == [
        (GROUP, 50.0),
        (GREEN_GROUP, 60.0),
    ]
    assert found[0]["PolicyARN"] != found[1]["PolicyARN"]


@pytest.mark.usefixtures("sandbox")
def test_delete_names_the_group(aws: Aws) -> None:
    put(aws, GROUP, 50.0)
    put(aws, GREEN_GROUP, 60.0)
    aws.call("autoscaling", "delete_policy", AutoScalingGroupName=GREEN_GROUP, PolicyName=POLICY)
    assert [p["AutoScalingGroupName"] for p in policies(aws)] == [GROUP]


@pytest.mark.usefixtures("sandbox")
@pytest.mark.parametrize(
    ("given", "seen"), [({}, True), ({"Enabled": True}, True), ({"Enabled": False}, False)]
)
def test_enabled_is_kept_and_defaults_to_true(aws: Aws, given: dict[str, bool], seen: bool) -> None:
    put(aws, GROUP, 50.0, **given)
    (policy,) = policies(aws, GROUP)
    assert policy["Enabled"] is seen


@pytest.mark.usefixtures("sandbox")
def test_disable_scale_in_is_returned(aws: Aws) -> None:
    put(aws, GROUP, 50.0, disable_scale_in=True)
    (policy,) = policies(aws, GROUP)
    assert policy["TargetTrackingConfiguration"]["DisableScaleIn"] is True


@pytest.mark.usefixtures("sandbox")
def test_a_policy_needs_its_group(aws: Aws) -> None:
    with pytest.raises(Exception, match="AutoScalingGroup name not found"):
        put(aws, "no-such-asg", 50.0)
