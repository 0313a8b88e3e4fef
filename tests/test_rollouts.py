"""Rollouts in the sandbox: instances boot, pass or fail health checks, and refreshes pace,
pause, fail and roll back on the sandbox clock, which these tests stop and move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.errors import AwsApiError
from reconciler.sandbox import Sandbox, Seeded
from reconciler.sandbox.health import CheckSettings, judge
from reconciler.sandbox.replacement import Pace, batch_size
from reconciler.sandbox.seed import GROUP
from tests.sandbox_calls import (
    pin_group,
    pinned,
    refresh,
    script,
    start_refresh,
    version_with,
)

SEED_PREFS: dict[str, Any] = {
    "MinHealthyPercentage": 50,
    "MaxHealthyPercentage": 100,
    "InstanceWarmup": 300,
    "CheckpointPercentages": [50, 100],
    "CheckpointDelay": 60,
    "AutoRollback": True,
}


def start(aws: Aws, seeded: Seeded, version: int, **prefs: Any) -> str:
    return start_refresh(aws, seeded, version, {**SEED_PREFS, **prefs})


def instances(aws: Aws) -> list[dict[str, Any]]:
    """The group's members that count: those on their way out are listed as ``Terminating``
    while their targets drain (UG-hooks, UG-health; row C4), and are left out here."""
    found: list[dict[str, Any]] = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
    )["AutoScalingGroups"][0]["Instances"]
    return [i for i in found if i["LifecycleState"] != "Terminating"]


def group_version(aws: Aws) -> str:
    found: str = aws.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
    )["AutoScalingGroups"][0]["LaunchTemplate"]["Version"]
    return found


def health(aws: Aws, seeded: Seeded) -> dict[str, str]:
    found = aws.call("elbv2", "describe_target_health", TargetGroupArn=seeded.target_group_arn)
    return {
        d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found["TargetHealthDescriptions"]
    }


def scale_to(aws: Aws, capacity: int) -> str:
    """Scale out by one and return the new instance's id."""
    before = {i["InstanceId"] for i in instances(aws)}
    aws.call(
        "autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=capacity
    )
    (new,) = {str(i["InstanceId"]) for i in instances(aws)} - before
    return new


# -- instances boot and pass (or fail) health checks --------------------------------------------


def test_a_new_instance_boots_then_passes_two_checks(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    new = scale_to(aws, 3)
    seen = []
    for _ in range(8):  # t = 0, 30, ..., 210 s after launch
        state = next(i for i in instances(aws) if i["InstanceId"] == new)["LifecycleState"]
        seen.append((state, health(aws, seeded).get(new, "-")))
        frozen.clock.advance(30)
    assert seen == [
        ("Pending", "-"),
        ("Pending", "-"),
        ("InService", "initial"),  # 60 s: registered, no check yet
        ("InService", "initial"),  # 90 s: one failed check (the app is still starting)
        ("InService", "unhealthy"),  # 120 s: two failed checks
        ("InService", "unhealthy"),  # 150 s: the app answers; one passed check
        ("InService", "healthy"),  # 180 s: two passed checks, the seed's "3 minutes"
        ("InService", "healthy"),
    ]


def test_health_checks_follow_the_target_group_settings(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    aws.call(
        "elbv2",
        "modify_target_group",
        TargetGroupArn=seeded.target_group_arn,
        HealthCheckIntervalSeconds=10,
        HealthyThresholdCount=5,
    )
    new = scale_to(aws, 3)
    frozen.clock.advance(60 + 90 + 30)  # app up at 150 s; four passes by 180 s
    assert health(aws, seeded)[new] == "unhealthy"
    frozen.clock.advance(10)  # the fifth
    assert health(aws, seeded)[new] == "healthy"


@pytest.mark.parametrize(
    "image",
    [
        pytest.param("pinned", id="digest pinned in UserData"),
        pytest.param(":v2.0", id="unpinned tag, looked up in ECR"),
    ],
)
def test_v2_images_never_pass_and_elb_health_replaces_them(
    frozen: Sandbox, aws: Aws, seeded: Seeded, image: str
) -> None:
    user_data = pinned(seeded, "v2.0") if image == "pinned" else script(seeded, image)
    pin_group(aws, seeded, version_with(aws, seeded, user_data))
    broken = scale_to(aws, 3)
    frozen.clock.advance(120)
    assert health(aws, seeded)[broken] == "unhealthy"
    frozen.clock.advance(230)  # 350 s: inside the 300 s grace period, counted from InService (60 s)
    assert broken in {i["InstanceId"] for i in instances(aws)}
    frozen.clock.advance(10)
    members = {i["InstanceId"] for i in instances(aws)}
    assert broken not in members and len(members) == 3  # replaced, from the same (broken) version
    assert health(aws, seeded)[broken] == "draining"


def test_other_images_are_healthy(frozen: Sandbox, aws: Aws, seeded: Seeded) -> None:
    pin_group(aws, seeded, version_with(aws, seeded, pinned(seeded, "v1.0")))
    new = scale_to(aws, 3)
    frozen.clock.advance(180)
    assert health(aws, seeded)[new] == "healthy"


# -- refresh pacing ---------------------------------------------------------------------------


def test_seed_refresh_reports_progress_like_aws(frozen: Sandbox, aws: Aws, seeded: Seeded) -> None:
    pin_group(aws, seeded, 1)
    good = version_with(aws, seeded, pinned(seeded, "v1.1"))
    start(aws, seeded, good)
    first = refresh(aws)
    assert (first["Status"], first["PercentageComplete"], first["InstancesToUpdate"]) == (
        "InProgress",
        0,
        2,
    )
    # MaxHealthyPercentage 100 with MinHealthyPercentage 50: one out, one in.
    assert sorted(i["LifecycleState"] for i in instances(aws)) == ["InService", "Pending"]
    frozen.clock.advance(200)
    assert "warm up" in refresh(aws)["StatusReason"]
    frozen.clock.advance(165)  # 6 min: the first replacement warmed up; checkpoint 50%
    mid = refresh(aws)
    assert (mid["PercentageComplete"], mid["InstancesToUpdate"]) == (50, 1)
    assert "Checkpoint 1 of 2" in mid["StatusReason"]
    assert group_version(aws) == "1"  # the desired configuration waits for success
    frozen.clock.advance(60 + 365)
    done = refresh(aws)
    assert (done["Status"], done["PercentageComplete"], done["InstancesToUpdate"]) == (
        "Successful",
        100,
        0,
    )
    assert group_version(aws) == str(good)
    assert {i["LaunchTemplate"]["Version"] for i in instances(aws)} == {str(good)}


def test_max_healthy_above_100_launches_before_terminating(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    pin_group(aws, seeded, 1)
    good = version_with(aws, seeded, pinned(seeded, "v1.1"))
    start(
        aws, seeded, good, MinHealthyPercentage=100, MaxHealthyPercentage=200,
        CheckpointPercentages=[100],
    )  # fmt: skip
    refresh(aws)
    states = sorted(i["LifecycleState"] for i in instances(aws))
    assert states == ["InService", "InService", "Pending", "Pending"]
    frozen.clock.advance(365)
    assert refresh(aws)["Status"] == "Successful"
    assert len(instances(aws)) == 2


def test_update_group_template_is_refused_during_a_refresh(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    pin_group(aws, seeded, 1)
    good = version_with(aws, seeded, pinned(seeded, "v1.1"))
    start(aws, seeded, good)
    with pytest.raises(AwsApiError) as refused:
        pin_group(aws, seeded, good)
    assert refused.value.code == "ValidationError"
    assert "instance refresh" in str(refused.value)
    pin_group(aws, seeded, 1)  # naming the template it already uses changes nothing: allowed
    # Other settings may change, and so may the template after the refresh ends.
    aws.call("autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MaxSize=5)
    aws.call("autoscaling", "cancel_instance_refresh", AutoScalingGroupName=GROUP)
    frozen.clock.advance(60)
    pin_group(aws, seeded, good)


# -- failure and rollback ---------------------------------------------------------------------


def test_broken_image_rolls_back_automatically(frozen: Sandbox, aws: Aws, seeded: Seeded) -> None:
    pin_group(aws, seeded, 1)
    broken = version_with(aws, seeded, pinned(seeded, "v2.0"))
    start(aws, seeded, broken)
    refresh(aws)
    # Unhealthy from 120 s; the grace period ends at 360 s (300 s from InService); then AWS
    # replaces failing new instances for one hour before it rolls back (1.5, UG-rollback).
    frozen.clock.advance(360 + 3600)
    rolling = refresh(aws)
    assert rolling["Status"] == "RollbackInProgress"
    assert "health checks" in rolling["StatusReason"]
    assert rolling["RollbackDetails"]["PercentageCompleteOnRollback"] == 0
    frozen.clock.advance(900)
    done = refresh(aws)
    assert done["Status"] == "RollbackSuccessful"
    assert "health checks" in done["StatusReason"]
    assert group_version(aws) == "1"
    assert {i["LaunchTemplate"]["Version"] for i in instances(aws)} == {"1"}
    assert set(health(aws, seeded).values()) <= {"healthy", "draining"}


def test_broken_image_without_auto_rollback_fails(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    pin_group(aws, seeded, 1)
    broken = version_with(aws, seeded, pinned(seeded, "v2.0"))
    start(aws, seeded, broken, AutoRollback=False)
    refresh(aws)
    frozen.clock.advance(360 + 3600)  # the grace period, then the hour of retries (1.5)
    failed = refresh(aws)
    assert failed["Status"] == "Failed" and "health checks" in failed["StatusReason"]
    assert group_version(aws) == "1"


def test_rollback_refused_without_previous_configuration(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    good = version_with(aws, seeded, pinned(seeded, "v1.1"))
    start(aws, seeded, good, AutoRollback=False)  # the group still points at $Default
    with pytest.raises(AwsApiError) as refused:
        aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)
    assert refused.value.code == "IrreversibleInstanceRefresh"


# -- the pure parts ---------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED_CHECKS = CheckSettings(interval=30, healthy_threshold=2, unhealthy_threshold=2)


@pytest.mark.parametrize(
    ("after", "ready_after", "expected"),
    [
        (0, 90, "initial"),
        (59, 90, "initial"),
        (60, 90, "unhealthy"),
        (90, 90, "unhealthy"),
        (120, 90, "healthy"),
        (86_400, 90, "healthy"),
        (30, 0, "initial"),
        (60, 0, "healthy"),
        (60, None, "unhealthy"),
        (86_400, None, "unhealthy"),
    ],
)
def test_judge_counts_checks(after: int, ready_after: int | None, expected: str) -> None:
    ready = None if ready_after is None else T0 + timedelta(seconds=ready_after)
    assert judge(SEED_CHECKS, T0, ready, T0 + timedelta(seconds=after)).state == expected


@pytest.mark.parametrize(
    ("pace", "capacity", "live", "busy", "waiting", "room", "expected"),
    [
        (Pace(50, 100, 300), 2, 2, 0, 2, None, 1),  # the seed: one at a time
        (Pace(50, 100, 300), 2, 2, 1, 1, None, 0),  # one in flight uses the allowance
        (Pace(0, 100, 300), 4, 4, 0, 4, None, 4),  # all at once
        (Pace(90, 100, 300), 2, 2, 0, 2, None, 1),  # never stalls: at least one
        (Pace(100, 200, 300), 2, 2, 0, 2, None, 2),  # launch up to 200% first
        (Pace(100, 200, 300), 2, 4, 2, 0, None, 0),
        (Pace(0, 100, 300), 10, 10, 0, 10, 2, 2),  # not past the next checkpoint
    ],
)
def test_batch_size(
    pace: Pace, capacity: int, live: int, busy: int, waiting: int, room: int | None, expected: int
) -> None:
    assert (
        batch_size(pace=pace, capacity=capacity, live=live, busy=busy, waiting=waiting, room=room)
        == expected
    )
