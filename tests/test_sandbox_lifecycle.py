"""The sandbox's instance lifecycle as AWS runs it, through real boto3 on a frozen clock.

Sources (tags of shared/aws-facts.md): 1.13 and UG-overview / UG-IMP (health-check replacement
runs during an instance refresh, and launches use the refresh's desired configuration: rows A5,
A6), 1.5 (the refresh's own failing new instances: the one-hour retry), 2 and 3.3 with UG-hooks
and UG-health (a terminating instance is deregistered and drains for the deregistration delay
while it runs, listed as Terminating, then terminates: row C4), 2 with UG-health and UG-grace (a
stopped instance is replaced at once: row C3), 1.2 (Min..Max pacing above 100%: row A4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox, Seeded, TargetHealth, TargetHealthModel, TargetView
from reconciler.sandbox.health import FAILING
from reconciler.sandbox.replacement import Pace, batch_size, retire_first
from reconciler.sandbox.seed import GROUP
from tests.sandbox_calls import pin_group, pinned, refresh, version_with
from tests.test_rollouts import health, instances, scale_to, start


@dataclass
class FailingSome:
    """The sandbox's own health checks, except that the chosen targets fail from now on."""

    inner: TargetHealthModel
    failing: set[str] = field(default_factory=set)

    def health(self, target: TargetView, now: datetime) -> TargetHealth:
        if target.target_id in self.failing:
            return FAILING
        return self.inner.health(target, now)


def members(aws: Aws) -> dict[str, dict[str, Any]]:
    """Members that count (``instances`` leaves out the Terminating ones)."""
    return {i["InstanceId"]: i for i in instances(aws)}


def test_an_old_instance_failing_during_a_refresh_is_healed_from_the_desired_version(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A5: AWS replaces unhealthy instances during a refresh (1.13), from the desired
    configuration (A6), and the refresh counts that replacement: it stays InProgress until the
    healed instance is warmed up and healthy, then succeeds without replacing it again."""
    model = FailingSome(frozen.runtime.health)
    frozen.runtime.health = model
    pin_group(aws, seeded, 1)
    seed = set(members(aws))
    version = version_with(aws, seeded, pinned(seeded, "v1.1"))
    start(aws, seeded, version, CheckpointDelay=3600)
    frozen.clock.advance(400)  # first batch replaced (360 s), paused at the 50% checkpoint
    assert refresh(aws)["PercentageComplete"] == 50
    (old,) = seed & set(members(aws))
    model.failing.add(old)
    frozen.clock.advance(30)
    now = members(aws)
    assert old not in now  # healed during the refresh's checkpoint pause
    (healed,) = set(now) - seed - {i for i in now if now[i]["LifecycleState"] == "InService"}
    assert now[healed]["LaunchTemplate"]["Version"] == str(version)
    assert refresh(aws)["Status"] == "InProgress"  # not done while the healed one is Pending
    frozen.clock.advance(200)
    assert refresh(aws)["Status"] == "InProgress"  # warming up (300 s from InService)
    frozen.clock.advance(200)
    done = refresh(aws)
    assert done["Status"] == "Successful" and done["PercentageComplete"] == 100
    assert healed in members(aws) and len(members(aws)) == 2


def test_a_replaced_instance_failing_later_holds_the_refresh_until_its_replacement_is_up(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A5: a new instance the refresh already counted, healed later, is waited for: the refresh
    must not end Successful while the replacement is Pending."""
    model = FailingSome(frozen.runtime.health)
    frozen.runtime.health = model
    pin_group(aws, seeded, 1)
    seed = set(members(aws))
    start(aws, seeded, version_with(aws, seeded, pinned(seeded, "v1.1")), CheckpointDelay=60)
    frozen.clock.advance(400)
    (first,) = set(members(aws)) - seed
    frozen.clock.advance(320)  # 720 s: the second batch's instance is warming up
    assert first in members(aws)  # the world has moved to 720 s before the failure starts
    model.failing.add(first)
    frozen.clock.advance(10)
    assert first not in members(aws)
    assert refresh(aws)["Status"] == "InProgress"
    frozen.clock.advance(170)  # 900 s: the second batch is done; the healed one is warming up
    assert refresh(aws)["PercentageComplete"] == 100
    assert refresh(aws)["Status"] == "InProgress"
    frozen.clock.advance(300)
    assert refresh(aws)["Status"] == "Successful"
    assert all(i["LifecycleState"] == "InService" for i in instances(aws))


# -- C4: a terminated instance drains as Terminating first ---------------------------------------


def listed(aws: Aws) -> dict[str, dict[str, Any]]:
    """Every instance DescribeAutoScalingGroups lists, Terminating ones included."""
    group = aws.call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP])
    return {i["InstanceId"]: i for i in group["AutoScalingGroups"][0]["Instances"]}


def ec2_state(aws: Aws, instance_id: str) -> str:
    found = aws.call("ec2", "describe_instances", InstanceIds=[instance_id])
    state: str = found["Reservations"][0]["Instances"][0]["State"]["Name"]
    return state


def test_scale_in_drains_the_instance_as_terminating_first(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """C4: AWS deregisters a terminating instance and waits out the deregistration delay (300 s
    by default) while it still runs, listed as Terminating, then terminates it (UG-hooks,
    UG-health; aws-facts 2, 3.3). It no longer counts toward desired capacity meanwhile."""
    before = set(members(aws))
    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=1)
    (gone,) = before - set(members(aws))
    entry = listed(aws)[gone]
    assert (entry["LifecycleState"], entry["HealthStatus"]) == ("Terminating", "Healthy")
    assert ec2_state(aws, gone) == "running"
    assert health(aws, seeded)[gone] == "draining"
    frozen.clock.advance(295)
    assert gone in listed(aws) and len(members(aws)) == 1
    frozen.clock.advance(10)
    assert gone not in listed(aws)
    assert ec2_state(aws, gone) == "terminated"
    assert gone not in health(aws, seeded)


def test_the_target_groups_deregistration_delay_sets_how_long(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    aws.call(
        "elbv2",
        "modify_target_group_attributes",
        TargetGroupArn=seeded.target_group_arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
    )
    victim = next(iter(members(aws)))
    aws.call(
        "autoscaling",
        "terminate_instance_in_auto_scaling_group",
        InstanceId=victim,
        ShouldDecrementDesiredCapacity=False,
    )
    assert listed(aws)[victim]["LifecycleState"] == "Terminating"
    assert len(members(aws)) == 2  # its replacement is already on its way: it no longer counts
    frozen.clock.advance(35)
    assert victim not in listed(aws)


def test_an_instance_terminated_for_its_health_stays_unhealthy_while_it_drains(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """C4/C5: HealthStatus stays Unhealthy while the instance drains as Terminating; the
    replacement is launched at once (the Terminating one does not count)."""
    pin_group(aws, seeded, version_with(aws, seeded, pinned(seeded, "v2.0")))
    before = set(members(aws))
    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=3)
    (broken,) = set(members(aws)) - before
    frozen.clock.advance(365)  # past the grace period (300 s from InService at 60 s)
    entry = listed(aws)[broken]
    assert (entry["LifecycleState"], entry["HealthStatus"]) == ("Terminating", "Unhealthy")
    assert broken not in members(aws) and len(members(aws)) == 3


# -- C3: a stopped instance is Unhealthy and replaced --------------------------------------------


def test_a_stopped_instance_is_marked_unhealthy_and_replaced_even_in_the_grace_period(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """C3: "If Amazon EC2 Auto Scaling determines that any instances are no longer running …
    it immediately replaces them", grace period or not (UG-health, UG-grace; aws-facts 2)."""
    new = scale_to(aws, 3)
    frozen.clock.advance(120)  # in service, well inside the 300 s grace period
    aws.call("ec2", "stop_instances", InstanceIds=[new])
    entry = listed(aws)[new]
    assert (entry["LifecycleState"], entry["HealthStatus"]) == ("Terminating", "Unhealthy")
    assert new not in members(aws) and len(members(aws)) == 3  # the replacement is launching
    causes = [
        a["Cause"]
        for a in aws.call("autoscaling", "describe_scaling_activities", AutoScalingGroupName=GROUP)[
            "Activities"
        ]
        if a["Description"] == f"Terminating EC2 instance: {new}"
    ]
    assert len(causes) == 1 and causes[0].endswith(
        "in response to an EC2 health check indicating it has been terminated or stopped."
    )


def test_a_stopped_instance_is_replaced_without_elb_health_checks(
    frozen: Sandbox, aws: Aws
) -> None:
    """C3: EC2 health checks are always on, whatever HealthCheckType says (aws-facts 2)."""
    aws.call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName=GROUP,
        HealthCheckType="EC2",
    )
    victim = sorted(members(aws))[0]
    aws.call("ec2", "stop_instances", InstanceIds=[victim])
    assert victim not in members(aws) and len(members(aws)) == 2


# -- A4: above 100% the whole Min..Max range is used ---------------------------------------------


@pytest.mark.parametrize(
    ("pace", "capacity", "live", "busy", "waiting", "expected"),
    [
        # aws-facts 1.2 worked example: min 50 / max 150 on 2 replaces both at once
        (Pace(50, 150, 300), 2, 2, 0, 2, 2),
        (Pace(50, 150, 300), 4, 4, 0, 4, 4),  # floor 2, ceiling 6: two out, four in
        (Pace(100, 200, 300), 2, 2, 0, 2, 2),  # no room below: launch up to 200% only
        (Pace(100, 200, 300), 2, 4, 2, 0, 0),
        (Pace(90, 110, 300), 2, 2, 0, 2, 1),  # neither bound allows one: still one at a time
        (Pace(0, 150, 300), 2, 2, 0, 2, 2),  # capped by what is waiting
        (Pace(50, 150, 300), 2, 3, 2, 0, 0),  # batch in flight: nothing more
    ],
)
def test_batch_size_above_100_uses_both_bounds(
    pace: Pace, capacity: int, live: int, busy: int, waiting: int, expected: int
) -> None:
    found = batch_size(
        pace=pace, capacity=capacity, live=live, busy=busy, waiting=waiting, room=None
    )
    assert found == expected


@pytest.mark.parametrize(
    ("pace", "capacity", "live", "busy", "count", "expected"),
    [
        (Pace(50, 150, 300), 2, 2, 0, 2, 1),  # one old one stays while two new ones launch
        (Pace(50, 150, 300), 4, 4, 0, 4, 2),
        (Pace(100, 200, 300), 2, 2, 0, 2, 0),  # launch before terminate
        (Pace(0, 200, 300), 2, 2, 0, 2, 2),
        (Pace(50, 100, 300), 2, 2, 0, 1, 1),  # omitted-max pacing: terminate first
        (Pace(100, 100, 300, max_explicit=True), 2, 2, 0, 1, 0),  # min = max = 100 (A3)
    ],
)
def test_retire_first(
    pace: Pace, capacity: int, live: int, busy: int, count: int, expected: int
) -> None:
    found = retire_first(pace=pace, capacity=capacity, live=live, busy=busy, count=count)
    assert found == expected


def test_min_50_max_150_replaces_both_instances_in_one_batch(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """A4, aws-facts 1.2: with min 50 / max 150 on 2, one old instance stays in service while
    two new ones launch (3 in total): one batch of 6 minutes, not two."""
    pin_group(aws, seeded, 1)
    seed = set(members(aws))
    start(
        aws, seeded, version_with(aws, seeded, pinned(seeded, "v1.1")),
        MinHealthyPercentage=50, MaxHealthyPercentage=150, CheckpointPercentages=[100],
    )  # fmt: skip
    refresh(aws)
    now = members(aws)
    assert len(now) == 3 and len(seed & set(now)) == 1
    frozen.clock.advance(365)  # 60 s Pending + 300 s warmup, healthy at 180 s
    done = refresh(aws)
    assert done["Status"] == "Successful"
    assert not seed & set(members(aws)) and len(members(aws)) == 2
