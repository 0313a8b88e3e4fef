"""Blue/green in the sandbox (issue 13): the seed's idle green side, and traffic split between
feedback-tg and feedback-green-tg by the listener's ForwardConfig weights, as CloudWatch then
reports it per target group (aws-facts 3.2, 6, 7). Real boto3 against the sandbox, the clock
stopped so every minute of traffic is the test's to choose."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox, Seeded
from reconciler.sandbox.seed import GREEN_GROUP, GREEN_TARGET_GROUP, GROUP, TARGET_GROUP, forward
from tests.sandbox_calls import image_version, metric, next_minute, pin_group

MINUTES = 10


@pytest.fixture
def still(sandbox: Sandbox) -> Sandbox:
    sandbox.clock.speed = 0
    return sandbox


def group(aws: Aws, name: str) -> dict[str, Any]:
    (found,) = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[name]
    )["AutoScalingGroups"]
    return dict(found)


def states(aws: Aws, target_group_arn: str) -> list[str]:
    described = aws.call("elbv2", "describe_target_health", TargetGroupArn=target_group_arn)
    return [t["TargetHealth"]["State"] for t in described["TargetHealthDescriptions"]]


def weigh(aws: Aws, seeded: Seeded, blue: int, green: int) -> None:
    """The blue/green flip: one ModifyListener with both weights."""
    action = forward([(seeded.target_group_arn, blue), (seeded.green_target_group_arn, green)])
    aws.call("elbv2", "modify_listener", ListenerArn=seeded.listener_arn, DefaultActions=[action])


def green_on(
    still: Sandbox, aws: Aws, seeded: Seeded, tag: str, *, health_check_type: str = "ELB"
) -> None:
    """Two green instances running ``tag`` (pinned by digest), given time to boot and pass
    their health checks."""
    pin_group(aws, seeded, image_version(aws, seeded, tag), group=GREEN_GROUP)
    aws.call(
        "autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GREEN_GROUP,
        DesiredCapacity=2, HealthCheckType=health_check_type,
    )  # fmt: skip
    still.clock.advance(600)
    assert len(states(aws, seeded.green_target_group_arn)) == 2


def run(still: Sandbox, aws: Aws, minutes: int = MINUTES) -> tuple[datetime, datetime]:
    """``minutes`` whole minutes of traffic from a minute boundary: (start, end)."""
    start = next_minute(still)
    still.clock.advance(60 * minutes)
    aws.call("cloudwatch", "describe_alarms")  # the world (and its traffic) reaches the end
    return start, start + timedelta(minutes=minutes)


def total(aws: Aws, name: str, start: datetime, end: datetime, target_group: str) -> float:
    points = metric(aws, name, "Sum", start, end, target_group=target_group)
    return sum(value for _, value in points)


def test_the_green_side_is_seeded_idle_beside_the_blue_one(aws: Aws, seeded: Seeded) -> None:
    blue, green = group(aws, GROUP), group(aws, GREEN_GROUP)
    assert seeded.green_group_name == GREEN_GROUP
    assert (green["MinSize"], green["MaxSize"], green["DesiredCapacity"]) == (0, blue["MaxSize"], 0)
    assert green["Instances"] == []
    for same in (
        "LaunchTemplate",
        "VPCZoneIdentifier",
        "HealthCheckType",
        "HealthCheckGracePeriod",
    ):
        assert green[same] == blue[same], same
    assert green["HealthCheckType"] == "ELB"
    assert green["TargetGroupARNs"] == [seeded.green_target_group_arn]
    assert blue["TargetGroupARNs"] == [seeded.target_group_arn]
    (tg,) = aws.call("elbv2", "describe_target_groups", Names=[GREEN_TARGET_GROUP])["TargetGroups"]
    assert tg["TargetGroupArn"] == seeded.green_target_group_arn
    assert states(aws, seeded.green_target_group_arn) == []


def test_an_idle_green_side_changes_nothing_for_blue(still: Sandbox, aws: Aws) -> None:
    """Weight 100/0 and no green instance: the seed's traffic, all on feedback-tg."""
    start, end = run(still, aws, 5)
    whole = sum(v for _, v in metric(aws, "RequestCount", "Sum", start, end, group=False))
    assert whole > 2500
    assert total(aws, "RequestCount", start, end, TARGET_GROUP) == whole
    assert metric(aws, "HTTPCode_ELB_5XX_Count", "Sum", start, end, group=False) == []
    assert metric(aws, "RequestCount", "Sum", start, end, target_group=GREEN_TARGET_GROUP) == []


def test_90_10_sends_a_tenth_to_green_and_its_v2_1_errors_stay_there(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """Green runs v2.1 (healthy, 30% 500s): at 90/10 it gets ~10% of the requests and ~30% of
    them fail; blue gets ~90% at its usual ~0.1%."""
    green_on(still, aws, seeded, "v2.1")
    assert states(aws, seeded.green_target_group_arn) == ["healthy", "healthy"]
    weigh(aws, seeded, 90, 10)
    start, end = run(still, aws)
    whole = sum(v for _, v in metric(aws, "RequestCount", "Sum", start, end, group=False))
    blue = total(aws, "RequestCount", start, end, TARGET_GROUP)
    green = total(aws, "RequestCount", start, end, GREEN_TARGET_GROUP)
    assert whole > 5000 and blue + green == whole
    assert 0.08 <= green / whole <= 0.12  # binomial sd ~0.4% on 6000 requests
    green_5xx = total(aws, "HTTPCode_Target_5XX_Count", start, end, GREEN_TARGET_GROUP)
    assert 0.22 <= green_5xx / green <= 0.38  # sd ~1.9% on ~600
    blue_5xx = total(aws, "HTTPCode_Target_5XX_Count", start, end, TARGET_GROUP)
    assert blue_5xx / blue < 0.01


def test_weight_0_sends_nothing_to_healthy_targets(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    green_on(still, aws, seeded, "v1.1")
    assert states(aws, seeded.green_target_group_arn) == ["healthy", "healthy"]
    start, end = run(still, aws, 5)  # the seed's 100/0
    assert metric(aws, "RequestCount", "Sum", start, end, target_group=GREEN_TARGET_GROUP) == []
    whole = sum(v for _, v in metric(aws, "RequestCount", "Sum", start, end, group=False))
    assert total(aws, "RequestCount", start, end, TARGET_GROUP) == whole > 2500


def test_a_weight_change_moves_the_next_minute(still: Sandbox, aws: Aws, seeded: Seeded) -> None:
    """The flip is read for every piece of traffic: written at a minute boundary, that minute
    is all green and the one before all blue."""
    green_on(still, aws, seeded, "v1.1")
    start = next_minute(still)
    still.clock.advance(60)
    weigh(aws, seeded, 0, 100)  # the world reaches the boundary first, then the write
    still.clock.advance(60)
    aws.call("cloudwatch", "describe_alarms")
    end = start + timedelta(minutes=2)
    blue = metric(aws, "RequestCount", "Sum", start, end)
    green = metric(aws, "RequestCount", "Sum", start, end, target_group=GREEN_TARGET_GROUP)
    assert [t for t, _ in blue] == [start]
    assert [t for t, _ in green] == [start + timedelta(minutes=1)]
    assert all(480 <= v <= 720 for _, v in blue + green)


def test_green_with_weight_and_no_healthy_target_fails_open(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """aws-facts 3.2: green's v2.0 never starts; at 50/50 its half still goes to its (unhealthy)
    targets, which refuse the connection: ELB 502s there, blue untouched."""
    # EC2 health checks: nothing replaces the unhealthy instances, only the load balancer acts.
    green_on(still, aws, seeded, "v2.0", health_check_type="EC2")
    assert states(aws, seeded.green_target_group_arn) == ["unhealthy", "unhealthy"]
    weigh(aws, seeded, 50, 50)
    start, end = run(still, aws, 5)
    whole = sum(v for _, v in metric(aws, "RequestCount", "Sum", start, end, group=False))
    green = total(aws, "RequestCount", start, end, GREEN_TARGET_GROUP)
    assert 0.45 <= green / whole <= 0.55  # routed: fail-open
    assert total(aws, "TargetConnectionErrorCount", start, end, GREEN_TARGET_GROUP) == green
    assert metric(aws, "TargetConnectionErrorCount", "Sum", start, end) == []  # blue's
    healthy = metric(
        aws, "HealthyHostCount", "Maximum", start, end, target_group=GREEN_TARGET_GROUP
    )
    assert [v for _, v in healthy] == [0.0] * 5
    elb_502 = sum(
        v for _, v in metric(aws, "HTTPCode_ELB_502_Count", "Sum", start, end, group=False)
    )
    assert elb_502 == green


def test_rules_do_not_route_in_the_sandbox(still: Sandbox, aws: Aws, seeded: Seeded) -> None:
    """The documented difference (``serving``): a rule matching every path, all to green, is
    stored and described, but requests follow the default action (100/0 here)."""
    green_on(still, aws, seeded, "v1.1")
    aws.call(
        "elbv2", "create_rule", ListenerArn=seeded.listener_arn, Priority=1,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=[forward([(seeded.target_group_arn, 0), (seeded.green_target_group_arn, 1)])],
    )  # fmt: skip
    start, end = run(still, aws, 3)
    assert metric(aws, "RequestCount", "Sum", start, end, target_group=GREEN_TARGET_GROUP) == []
    assert total(aws, "RequestCount", start, end, TARGET_GROUP) > 1500
