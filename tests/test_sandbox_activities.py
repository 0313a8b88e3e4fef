"""DescribeScalingActivities in the sandbox, through real boto3 on a frozen clock.

moto 5.2.5 always answers an empty list; AWS records every launch and termination as an
activity [M Activity]. The Cause sentences are AWS's own, with their sources in
``reconciler.sandbox.activities``: the CLI reference example (capacity launch), the user guide's
health-check pages ("… in response to an ELB system health check failure"), the
TerminateInstanceInAutoScalingGroup example, SNS notifications (scale-in, instance refresh) and
the Knowledge Center (EC2 health check). A launch's EndTime is when it went InService (derived).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.errors import AwsApiError
from reconciler.sandbox import Sandbox, Seeded
from reconciler.sandbox.seed import GROUP
from tests.sandbox_calls import pin_group, pinned, refresh, version_with
from tests.test_rollouts import instances, scale_to, start

AT = r"At \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "


def activities(aws: Aws, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = aws.call(
        "autoscaling", "describe_scaling_activities", AutoScalingGroupName=GROUP, **params
    )["Activities"]
    return found


def serving(aws: Aws) -> set[str]:
    """Members that count: not on their way out (Terminating instances drain first, row C4)."""
    return {i["InstanceId"] for i in instances(aws) if i["LifecycleState"] != "Terminating"}


def about(aws: Aws, instance_id: str, verb: str) -> dict[str, Any]:
    """The activity launching or terminating one instance."""
    text = {"launch": "Launching a new EC2 instance: ", "terminate": "Terminating EC2 instance: "}
    (found,) = [a for a in activities(aws) if a["Description"] == text[verb] + instance_id]
    return found


def test_the_seed_launches_are_recorded_in_aws_shape(frozen: Sandbox, aws: Aws) -> None:
    members = [i["InstanceId"] for i in instances(aws)]
    group = aws.call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"
    ][0]
    for instance_id in members:
        launch = about(aws, instance_id, "launch")
        assert launch["StatusCode"] == "Successful" and launch["Progress"] == 100
        assert launch["AutoScalingGroupARN"] == group["AutoScalingGroupARN"]
        assert re.fullmatch(
            AT + "an instance was started in response to a difference between desired and "
            r"actual capacity, increasing the capacity from 0 to 2\.",
            launch["Cause"],
        )
        details = json.loads(launch["Details"])
        assert set(details) == {"Subnet ID", "Availability Zone"}
        assert details["Subnet ID"] in group["VPCZoneIdentifier"].split(",")
        assert launch["EndTime"] > launch["StartTime"]


def test_a_launch_is_in_progress_until_in_service_and_listed_first(
    frozen: Sandbox, aws: Aws
) -> None:
    new = scale_to(aws, 3)
    first = activities(aws)[0]
    assert first["Description"] == f"Launching a new EC2 instance: {new}"
    assert first["StatusCode"] == "PreInService" and "EndTime" not in first
    assert "increasing the capacity from 2 to 3." in first["Cause"]
    frozen.clock.advance(120)
    done = about(aws, new, "launch")
    assert done["StatusCode"] == "Successful"
    # Pending for 60 s, then InService: the launch ends then (derived, see activities).
    assert (done["EndTime"] - done["StartTime"]).total_seconds() == 60


def test_scale_in_records_the_capacity_cause(frozen: Sandbox, aws: Aws) -> None:
    before = serving(aws)
    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=1)
    (gone,) = before - serving(aws)
    ended = about(aws, gone, "terminate")
    assert re.fullmatch(
        AT + "an instance was taken out of service in response to a difference between desired "
        r"and actual capacity, shrinking the capacity from 2 to 1\.  "
        + AT
        + f"instance {gone} was selected for termination\\.",
        ended["Cause"],
    )
    # It drains for the target group's deregistration delay (300 s) before it is gone.
    assert ended["StatusCode"] == "WaitingForELBConnectionDraining" and "EndTime" not in ended
    frozen.clock.advance(300)
    ended = about(aws, gone, "terminate")
    assert ended["StatusCode"] == "Successful"
    assert (ended["EndTime"] - ended["StartTime"]).total_seconds() == 300


def test_a_health_check_termination_carries_the_elb_cause(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """UG replace-unhealthy-instance: the Cause names the ELB health check failure."""
    pin_group(aws, seeded, version_with(aws, seeded, pinned(seeded, "v2.0")))
    seed = serving(aws)
    broken = scale_to(aws, 3)
    frozen.clock.advance(400)  # past the grace period, counted from InService
    ended = about(aws, broken, "terminate")
    assert re.fullmatch(
        AT + r"an instance was taken out of service in response to an ELB system health check "
        r"failure\.",
        ended["Cause"],
    )
    (healer,) = serving(aws) - seed - {broken}
    assert about(aws, healer, "launch")["Cause"].endswith(
        "an instance was launched in response to an unhealthy instance needing to be replaced."
    )


def test_a_refresh_records_its_replacements(frozen: Sandbox, aws: Aws, seeded: Seeded) -> None:
    seed = [i["InstanceId"] for i in instances(aws)]
    pin_group(aws, seeded, 1)
    start(aws, seeded, version_with(aws, seeded, pinned(seeded, "v1.1")))
    frozen.clock.advance(1800)
    assert refresh(aws)["Status"] == "Successful"
    for old in seed:
        assert re.fullmatch(
            AT
            + r"an instance was taken out of service in response to an instance refresh\.  "
            + AT
            + f"instance {old} was selected for termination\\.",
            about(aws, old, "terminate")["Cause"],
        )
    for new in serving(aws):
        assert about(aws, new, "launch")["Cause"].endswith(
            "an instance was launched in response to an instance refresh."
        )


def test_failed_new_instances_of_a_refresh_are_health_check_terminations(
    frozen: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """1.5: the refresh's broken new instances are taken out by the health checks."""
    pin_group(aws, seeded, 1)
    start(aws, seeded, version_with(aws, seeded, pinned(seeded, "v2.0")))
    frozen.clock.advance(900)
    health = [a for a in activities(aws) if "ELB system health check failure" in a["Cause"]]
    assert health and all(a["Description"].startswith("Terminating") for a in health)
    assert any("unhealthy instance needing to be replaced" in a["Cause"] for a in activities(aws))


def test_terminate_instance_answers_with_the_recorded_activity(frozen: Sandbox, aws: Aws) -> None:
    victim = instances(aws)[0]["InstanceId"]
    answer = aws.call(
        "autoscaling",
        "terminate_instance_in_auto_scaling_group",
        InstanceId=victim,
        ShouldDecrementDesiredCapacity=True,
    )["Activity"]
    assert re.fullmatch(
        AT + f"instance {victim} was taken out of service in response to a user request, "
        r"shrinking the capacity from 2 to 1\.",
        answer["Cause"],
    )
    assert about(aws, victim, "terminate")["ActivityId"] == answer["ActivityId"]
    assert len(serving(aws)) == 1


def test_an_ec2_termination_carries_the_ec2_health_cause(frozen: Sandbox, aws: Aws) -> None:
    victim = instances(aws)[0]["InstanceId"]
    aws.call("ec2", "terminate_instances", InstanceIds=[victim])
    assert about(aws, victim, "terminate")["Cause"].endswith(
        "an instance was taken out of service in response to an EC2 health check indicating it "
        "has been terminated or stopped."
    )
    assert len(instances(aws)) == 2  # replaced


def test_paging_ids_and_max_records(frozen: Sandbox, aws: Aws) -> None:
    scale_to(aws, 3)
    everything = activities(aws)
    assert len(everything) == 3
    first = activities(aws, MaxRecords=1)
    token = aws.call(
        "autoscaling", "describe_scaling_activities", AutoScalingGroupName=GROUP, MaxRecords=1
    )["NextToken"]
    second = activities(aws, MaxRecords=2, NextToken=token)
    assert [a["ActivityId"] for a in first + second] == [a["ActivityId"] for a in everything]
    wanted = everything[1]["ActivityId"]
    assert [a["ActivityId"] for a in activities(aws, ActivityIds=[wanted, "nope"])] == [wanted]
    with pytest.raises(AwsApiError, match="ValidationError"):
        activities(aws, MaxRecords=101)


def test_a_reset_forgets_the_activities(sandbox: Sandbox, aws: Aws) -> None:
    sandbox.clock.speed = 0
    scale_to(aws, 3)
    sandbox.reseed()
    assert len(activities(aws)) == 2  # the new seed's two launches only
