"""The sandbox behaves like AWS on the reconciler's path: real boto3 calls over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.errors import AwsApiError
from reconciler.model import AwsAccess
from reconciler.sandbox import (
    Sandbox,
    SandboxClock,
    SandboxError,
    Seeded,
    TargetHealth,
    TargetView,
    accounts,
    image_digests,
    images,
    refresh_service,
)
from reconciler.sandbox.seed import AMI_ID
from tests.sandbox_calls import pin_group

GROUP = "feedback-asg"
TEMPLATE = "feedback-app-template"

# -- helpers ---------------------------------------------------------------------------------


def group(aws: Aws) -> dict[str, Any]:
    groups = aws.call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP])
    found: dict[str, Any] = groups["AutoScalingGroups"][0]
    return found


def instance_versions(aws: Aws) -> dict[str, str]:
    """instance id -> the launch template version DescribeAutoScalingGroups reports for it.

    Instances on their way out are left out: AWS lists them as ``Terminating`` while their
    targets drain (UG-hooks, UG-health; row C4).
    """
    return {
        i["InstanceId"]: i["LaunchTemplate"]["Version"]
        for i in group(aws)["Instances"]
        if i["LifecycleState"] != "Terminating"
    }


def target_states(aws: Aws, target_group_arn: str) -> dict[str, str]:
    health = aws.call("elbv2", "describe_target_health", TargetGroupArn=target_group_arn)
    return {
        t["Target"]["Id"]: t["TargetHealth"]["State"] for t in health["TargetHealthDescriptions"]
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def new_version(aws: Aws, seeded: Seeded, script: str, **params: Any) -> int:
    created = aws.call(
        "ec2",
        "create_launch_template_version",
        LaunchTemplateId=seeded.launch_template_id,
        SourceVersion="1",
        LaunchTemplateData={"UserData": b64(script)},
        **params,
    )
    number: int = created["LaunchTemplateVersion"]["VersionNumber"]
    return number


def start_refresh(aws: Aws, seeded: Seeded, version: int | None = None, **prefs: Any) -> str:
    params: dict[str, Any] = {"AutoScalingGroupName": GROUP, "Preferences": prefs}
    if version is not None:
        params["DesiredConfiguration"] = {
            "LaunchTemplate": {
                "LaunchTemplateId": seeded.launch_template_id,
                "Version": str(version),
            }
        }
    refresh_id: str = aws.call("autoscaling", "start_instance_refresh", **params)[
        "InstanceRefreshId"
    ]
    return refresh_id


def refreshes(aws: Aws, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP, **params
    )["InstanceRefreshes"]
    return found


def frozen(sandbox: Sandbox) -> Sandbox:
    """Stop the sandbox clock: time moves only when the test advances it."""
    sandbox.clock.speed = 0
    return sandbox


# Long enough for any refresh below to finish: two batches of launch (60 s) + warmup (300 s).
SETTLE = 900


def error_code(call: Any) -> str:
    with pytest.raises(AwsApiError) as raised:
        call()
    return raised.value.code


def user_data(aws: Aws, seeded: Seeded, version: int) -> str:
    versions = aws.call(
        "ec2",
        "describe_launch_template_versions",
        LaunchTemplateId=seeded.launch_template_id,
        Versions=[str(version)],
    )["LaunchTemplateVersions"]
    encoded: str = versions[0]["LaunchTemplateData"]["UserData"]
    return encoded


# -- the seed --------------------------------------------------------------------------------


def test_seed_network(aws: Aws, seeded: Seeded) -> None:
    vpc = aws.call("ec2", "describe_vpcs", VpcIds=[seeded.vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    subnets = aws.call("ec2", "describe_subnets", SubnetIds=list(seeded.subnet_ids.values()))
    found = {s["AvailabilityZone"]: s["CidrBlock"] for s in subnets["Subnets"]}
    assert found == {"us-east-1a": "10.0.1.0/24", "us-east-1c": "10.0.2.0/24"}

    ids = seeded.security_group_ids
    described = aws.call("ec2", "describe_security_groups", GroupIds=list(ids.values()))

    def rules(name: str) -> set[tuple[int, str]]:
        sg = next(g for g in described["SecurityGroups"] if g["GroupId"] == ids[name])
        out = set()
        for perm in sg["IpPermissions"]:
            out |= {(perm["FromPort"], r["CidrIp"]) for r in perm.get("IpRanges", [])}
            out |= {(perm["FromPort"], p["GroupId"]) for p in perm.get("UserIdGroupPairs", [])}
        return out

    assert rules("alb-sg") == {(80, "0.0.0.0/0"), (443, "0.0.0.0/0")}
    assert rules("app-sg") == {(8080, ids["alb-sg"]), (9100, "0.0.0.0/0"), (22, "0.0.0.0/0")}
    assert rules("db-sg") == {(3306, ids["app-sg"]), (22, "0.0.0.0/0")}


def test_seed_load_balancer_forwards_to_target_group(aws: Aws, seeded: Seeded) -> None:
    balancer = aws.call("elbv2", "describe_load_balancers", Names=["feedback-alb"])
    assert balancer["LoadBalancers"][0]["LoadBalancerArn"] == seeded.load_balancer_arn
    listener = aws.call("elbv2", "describe_listeners", LoadBalancerArn=seeded.load_balancer_arn)
    (only,) = listener["Listeners"]
    assert only["Port"] == 80
    (action,) = only["DefaultActions"]
    assert action["Type"] == "forward"
    # Blue/green (issue 13): all traffic to feedback-tg, the green side at weight 0.
    assert "TargetGroupArn" not in action  # two target groups: ForwardConfig only
    assert action["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": seeded.target_group_arn, "Weight": 100},
        {"TargetGroupArn": seeded.green_target_group_arn, "Weight": 0},
    ]

    for name in ("feedback-tg", "feedback-green-tg"):
        tg = aws.call("elbv2", "describe_target_groups", Names=[name])["TargetGroups"][0]
        assert (tg["Protocol"], tg["Port"], tg["VpcId"]) == ("HTTP", 8080, seeded.vpc_id)
        assert tg["HealthCheckPath"] == "/actuator/health"
        assert tg["HealthCheckIntervalSeconds"] == 30
        assert tg["HealthCheckTimeoutSeconds"] == 5
        assert (tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == (2, 2)
        assert tg["Matcher"] == {"HttpCode": "200"}
        assert tg["LoadBalancerArns"] == [seeded.load_balancer_arn]


def test_seed_images_have_distinct_digests_and_moving_tags(aws: Aws, seeded: Seeded) -> None:
    digests = image_digests(aws)
    assert digests == dict(seeded.image_digests)
    versions = [digests[v] for v in ("v1.0", "v1.1", "v2.0")]
    assert len(set(versions)) == 3
    assert digests["latest"] == digests["v1.1"]
    assert digests["previous"] == digests["v1.0"]
    sha_tags = [t for t in digests if t.startswith("sha-")]
    assert len(sha_tags) == 3 and {digests[t] for t in sha_tags} == set(versions)
    assert all(len(t) == len("sha-") + 7 for t in sha_tags)

    # The digest is what AWS computes: sha256 over the stored manifest bytes.
    got = aws.call(
        "ecr", "batch_get_image", repositoryName="simple-api", imageIds=[{"imageTag": "v2.0"}]
    )["images"][0]
    manifest = got["imageManifest"]
    assert "sha256:" + hashlib.sha256(manifest.encode()).hexdigest() == digests["v2.0"]
    assert json.loads(manifest)["schemaVersion"] == 2


def test_seed_launch_template_boots_the_mutable_tag(aws: Aws, seeded: Seeded) -> None:
    template = aws.call("ec2", "describe_launch_templates", LaunchTemplateNames=[TEMPLATE])
    assert template["LaunchTemplates"][0]["LatestVersionNumber"] == 1
    data = aws.call(
        "ec2", "describe_launch_template_versions", LaunchTemplateId=seeded.launch_template_id
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == AMI_ID
    assert data["InstanceType"] == "t3.small"
    assert data["SecurityGroupIds"] == [seeded.security_group_ids["app-sg"]]
    assert aws.call("ec2", "describe_images", ImageIds=[data["ImageId"]])["Images"]

    script = base64.b64decode(data["UserData"]).decode()
    registry = f"{seeded.account_id}.dkr.ecr.us-east-1.amazonaws.com"
    assert seeded.repository_uri == f"{registry}/simple-api"
    assert 'IMAGE_TAG="latest"' in script
    assert f"docker pull {registry}/simple-api:${{IMAGE_TAG}}" in script
    assert "docker run -d --restart always -p 8080:8080" in script
    assert "systemctl enable --now docker" in script


def test_seed_group(aws: Aws, seeded: Seeded) -> None:
    found = group(aws)
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (2, 4, 2)
    assert (found["HealthCheckType"], found["HealthCheckGracePeriod"]) == ("ELB", 300)
    assert set(found["VPCZoneIdentifier"].split(",")) == set(seeded.subnet_ids.values())
    assert found["TargetGroupARNs"] == [seeded.target_group_arn]
    assert found["LaunchTemplate"] == {
        "LaunchTemplateId": seeded.launch_template_id,
        "LaunchTemplateName": TEMPLATE,
        "Version": "$Default",
    }
    assert not [t for t in found.get("Tags", []) if t["Key"].startswith("asg-reconciler")]
    assert (
        aws.call("autoscaling", "describe_policies", AutoScalingGroupName=GROUP)["ScalingPolicies"]
        == []
    )

    instances = found["Instances"]
    assert {i["AvailabilityZone"] for i in instances} == {"us-east-1a", "us-east-1c"}
    assert {i["LifecycleState"] for i in instances} == {"InService"}
    assert target_states(aws, seeded.target_group_arn) == {
        i["InstanceId"]: "healthy" for i in instances
    }


def test_reset_forgets_everything(sandbox: Sandbox, aws: Aws, seeded: Seeded) -> None:
    start_refresh(aws, seeded)
    aws.call("ec2", "create_vpc", CidrBlock="192.168.0.0/16")
    sandbox.reseed()
    cidrs = [v["CidrBlock"] for v in aws.call("ec2", "describe_vpcs")["Vpcs"]]
    assert "192.168.0.0/16" not in cidrs and cidrs.count("10.0.0.0/16") == 1
    assert refreshes(aws) == []
    assert len(group(aws)["Instances"]) == 2


# -- instance refresh ------------------------------------------------------------------------


def test_refresh_replaces_instances_with_desired_version(
    sandbox: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    frozen(sandbox)
    v2 = new_version(aws, seeded, "#!/bin/bash\necho v2\n")
    pin_group(aws, seeded, 1)
    before = set(instance_versions(aws))
    refresh_id = start_refresh(
        aws, seeded, v2, MinHealthyPercentage=50, InstanceWarmup=300, AutoRollback=True,
        CheckpointPercentages=[50, 100], CheckpointDelay=60, MaxHealthyPercentage=100,
    )  # fmt: skip
    assert refreshes(aws)[0]["Status"] == "InProgress"

    sandbox.clock.advance(SETTLE)
    (record,) = refreshes(aws)
    assert record["InstanceRefreshId"] == refresh_id
    assert record["Status"] == "Successful"
    assert record["PercentageComplete"] == 100
    assert record["EndTime"] >= record["StartTime"]
    assert record["DesiredConfiguration"]["LaunchTemplate"] == {
        "LaunchTemplateId": seeded.launch_template_id,
        "LaunchTemplateName": TEMPLATE,
        "Version": str(v2),
    }
    prefs = record["Preferences"]
    assert prefs["MinHealthyPercentage"] == 50 and prefs["InstanceWarmup"] == 300
    assert prefs["CheckpointPercentages"] == [50, 100] and prefs["CheckpointDelay"] == 60
    assert prefs["AutoRollback"] is True and prefs["MaxHealthyPercentage"] == 100
    assert prefs["SkipMatching"] is False

    after = instance_versions(aws)
    assert len(after) == 2 and not set(after) & before
    assert set(after.values()) == {str(v2)}
    assert group(aws)["LaunchTemplate"]["Version"] == str(v2)
    states = target_states(aws, seeded.target_group_arn)
    assert {i: states[i] for i in after} == dict.fromkeys(after, "healthy")
    # The first old instance left at t=0 and has drained (300 s); the second left at ~7 min.
    assert all(states.get(i) in (None, "draining") for i in before)


def test_every_read_sees_the_same_moment(sandbox: Sandbox, aws: Aws, seeded: Seeded) -> None:
    frozen(sandbox)
    v2 = new_version(aws, seeded, "#!/bin/bash\necho v2\n")
    before = set(instance_versions(aws))
    start_refresh(aws, seeded, v2)
    sandbox.clock.advance(SETTLE)
    # Read the group before the refreshes: it must already show the finished refresh.
    assert group(aws)["LaunchTemplate"]["Version"] == str(v2)
    assert set(instance_versions(aws).values()) == {str(v2)}
    assert not set(instance_versions(aws)) & before
    assert refreshes(aws)[0]["Status"] == "Successful"


def test_refresh_without_desired_configuration_keeps_the_group_template(
    sandbox: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    frozen(sandbox)
    before = set(instance_versions(aws))
    start_refresh(aws, seeded)
    sandbox.clock.advance(SETTLE)
    (record,) = refreshes(aws)
    assert record["Status"] == "Successful"
    assert "DesiredConfiguration" not in record
    after = instance_versions(aws)
    assert not set(after) & before and set(after.values()) == {"1"}
    assert group(aws)["LaunchTemplate"]["Version"] == "$Default"


def test_refresh_starts_pending_and_counts_instances_to_update(
    sandbox: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    frozen(sandbox)
    start_refresh(aws, seeded)
    # The next request moves it on, so read the record from the store the API uses first.
    (pending,) = refresh_service.history(_autoscaling_backend(seeded), GROUP)
    assert pending.status.value == "Pending"
    assert pending.instances_to_update == 2
    (record,) = refreshes(aws)
    assert (record["Status"], record["PercentageComplete"]) == ("InProgress", 0)
    assert record["InstancesToUpdate"] == 2


def test_checkpoints_without_delay_report_the_aws_default(aws: Aws, seeded: Seeded) -> None:
    start_refresh(aws, seeded, CheckpointPercentages=[50, 100])
    assert refreshes(aws)[0]["Preferences"]["CheckpointDelay"] == 3600


def test_skip_matching_replaces_only_outdated_instances(
    sandbox: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    frozen(sandbox)
    before = set(instance_versions(aws))
    start_refresh(aws, seeded, 1, SkipMatching=True)
    sandbox.clock.advance(SETTLE)
    (record,) = refreshes(aws)
    assert record["Status"] == "Successful"
    assert set(instance_versions(aws)) == before


def test_second_refresh_while_one_is_active_is_refused(aws: Aws, seeded: Seeded) -> None:
    start_refresh(aws, seeded)
    assert error_code(lambda: start_refresh(aws, seeded)) == "InstanceRefreshInProgress"


def test_cancel(sandbox: Sandbox, aws: Aws, seeded: Seeded) -> None:
    frozen(sandbox)
    v2 = new_version(aws, seeded, "#!/bin/bash\necho v2\n")
    before = instance_versions(aws)
    refresh_id = start_refresh(aws, seeded, v2)
    refreshes(aws)  # the first batch starts: one old instance out, one new one booting
    cancelled = aws.call("autoscaling", "cancel_instance_refresh", AutoScalingGroupName=GROUP)
    assert cancelled["InstanceRefreshId"] == refresh_id
    # Cancelling is still active: AWS refuses a new refresh until it is Cancelled.
    assert error_code(lambda: start_refresh(aws, seeded)) == "InstanceRefreshInProgress"
    assert refreshes(aws)[0]["Status"] == "Cancelling"

    sandbox.clock.advance(60)  # the launch under way settles; nothing more starts
    (record,) = refreshes(aws)
    assert record["Status"] == "Cancelled" and record["StatusReason"]
    sandbox.clock.advance(SETTLE)
    after = instance_versions(aws)
    assert len(after) == 2 and sorted(after.values()) == sorted(["1", str(v2)])
    assert len(set(after) & set(before)) == 1  # the second old instance was never touched
    assert group(aws)["LaunchTemplate"]["Version"] == "$Default"
    assert (
        error_code(
            lambda: aws.call("autoscaling", "cancel_instance_refresh", AutoScalingGroupName=GROUP)
        )
        == "ActiveInstanceRefreshNotFound"
    )


def test_cancel_without_active_refresh(aws: Aws, seeded: Seeded) -> None:
    call = lambda: aws.call("autoscaling", "cancel_instance_refresh", AutoScalingGroupName=GROUP)  # noqa: E731
    assert error_code(call) == "ActiveInstanceRefreshNotFound"


def test_rollback_restores_previous_configuration(
    sandbox: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    frozen(sandbox)
    v2 = new_version(aws, seeded, "#!/bin/bash\necho v2\n")
    pin_group(aws, seeded, 1)
    refresh_id = start_refresh(aws, seeded, v2, AutoRollback=True)
    refreshes(aws)  # one v2 instance is booting
    rolled = aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)
    assert rolled["InstanceRefreshId"] == refresh_id
    assert refreshes(aws)[0]["Status"] == "RollbackInProgress"
    assert (
        error_code(
            lambda: aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)
        )
        == "IrreversibleInstanceRefresh"
    )  # already rolling back

    sandbox.clock.advance(SETTLE)
    (record,) = refreshes(aws)
    assert record["Status"] == "RollbackSuccessful"
    assert record["PercentageComplete"] == 0 and record["InstancesToUpdate"] == 2
    details = record["RollbackDetails"]
    assert details["RollbackReason"] and details["RollbackStartTime"] >= record["StartTime"]
    # What the forward pass had done when the rollback began: nothing warmed up yet.
    assert details["PercentageCompleteOnRollback"] == 0
    assert details["InstancesToUpdateOnRollback"] == 2
    assert group(aws)["LaunchTemplate"]["Version"] == "1"
    assert set(instance_versions(aws).values()) == {"1"}


def test_rollback_without_active_refresh(sandbox: Sandbox, aws: Aws, seeded: Seeded) -> None:
    frozen(sandbox)
    call = lambda: aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)  # noqa: E731
    assert error_code(call) == "ActiveInstanceRefreshNotFound"
    start_refresh(aws, seeded)
    sandbox.clock.advance(SETTLE)  # finishes it: a finished refresh cannot be rolled back
    assert error_code(call) == "ActiveInstanceRefreshNotFound"


def test_rollback_needs_a_desired_configuration(aws: Aws, seeded: Seeded) -> None:
    pin_group(aws, seeded, 1)
    start_refresh(aws, seeded)
    call = lambda: aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)  # noqa: E731
    assert error_code(call) == "IrreversibleInstanceRefresh"


def test_rollback_needs_a_numbered_previous_version(aws: Aws, seeded: Seeded) -> None:
    v2 = new_version(aws, seeded, "#!/bin/bash\necho v2\n")
    start_refresh(aws, seeded, v2)  # the seeded group points at $Default
    call = lambda: aws.call("autoscaling", "rollback_instance_refresh", AutoScalingGroupName=GROUP)  # noqa: E731
    assert error_code(call) == "IrreversibleInstanceRefresh"


def test_auto_rollback_preconditions(aws: Aws, seeded: Seeded) -> None:
    v2 = new_version(aws, seeded, "#!/bin/bash\necho v2\n")
    assert error_code(lambda: start_refresh(aws, seeded, AutoRollback=True)) == "ValidationError"
    # The group still points at $Default: nothing numbered to roll back to.
    assert error_code(lambda: start_refresh(aws, seeded, v2, AutoRollback=True)) == (
        "ValidationError"
    )
    pin_group(aws, seeded, 1)
    assert start_refresh(aws, seeded, v2, AutoRollback=True)


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("start_instance_refresh", {}),
        ("describe_instance_refreshes", {}),
        ("cancel_instance_refresh", {}),
        ("rollback_instance_refresh", {}),
    ],
)
def test_refresh_apis_reject_unknown_group(
    aws: Aws, seeded: Seeded, operation: str, params: dict[str, Any]
) -> None:
    call = lambda: aws.call("autoscaling", operation, AutoScalingGroupName="nope", **params)  # noqa: E731
    assert error_code(call) == "ValidationError"


def test_refresh_rejects_unknown_desired_version(aws: Aws, seeded: Seeded) -> None:
    assert error_code(lambda: start_refresh(aws, seeded, 9)) == "ValidationError"


def test_describe_newest_first_with_filter_and_pages(
    sandbox: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    frozen(sandbox)
    started = []
    for _ in range(3):
        started.append(start_refresh(aws, seeded))
        sandbox.clock.advance(SETTLE)  # completes it, so the next one may start
    newest_first = list(reversed(started))
    assert [r["InstanceRefreshId"] for r in refreshes(aws)] == newest_first
    assert [r["InstanceRefreshId"] for r in refreshes(aws, InstanceRefreshIds=[started[0]])] == [
        started[0]
    ]

    first = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP, MaxRecords=2
    )
    assert [r["InstanceRefreshId"] for r in first["InstanceRefreshes"]] == newest_first[:2]
    second = aws.call(
        "autoscaling",
        "describe_instance_refreshes",
        AutoScalingGroupName=GROUP,
        MaxRecords=2,
        NextToken=first["NextToken"],
    )
    assert [r["InstanceRefreshId"] for r in second["InstanceRefreshes"]] == newest_first[2:]
    assert "NextToken" not in second
    paged: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = aws.call(
            "autoscaling",
            "describe_instance_refreshes",
            AutoScalingGroupName=GROUP,
            MaxRecords=1,
            **token,
        )
        paged += [r["InstanceRefreshId"] for r in page["InstanceRefreshes"]]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert paged == newest_first
    bad = lambda: refreshes(aws, NextToken="not-a-token")  # noqa: E731
    assert error_code(bad) == "InvalidNextToken"


# -- moto fixes ------------------------------------------------------------------------------


def test_new_version_inherits_source_version(aws: Aws, seeded: Seeded) -> None:
    v2 = new_version(aws, seeded, "#!/bin/bash\necho v2\n")
    data = aws.call(
        "ec2",
        "describe_launch_template_versions",
        LaunchTemplateId=seeded.launch_template_id,
        Versions=[str(v2)],
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == AMI_ID
    assert data["InstanceType"] == "t3.small"
    assert data["SecurityGroupIds"] == [seeded.security_group_ids["app-sg"]]
    assert base64.b64decode(data["UserData"]).decode() == "#!/bin/bash\necho v2\n"


def test_user_data_round_trips_and_launches(aws: Aws, seeded: Seeded) -> None:
    script = "#!/bin/bash\necho 'round trip'\n"
    v2 = new_version(aws, seeded, script)
    assert user_data(aws, seeded, v2) == b64(script)
    # Launching from that version used to fail inside moto (HTTP 500).
    pin_group(aws, seeded, v2)
    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=3)
    launched = [i for i, v in instance_versions(aws).items() if v == str(v2)]
    assert len(launched) == 1
    attribute = aws.call(
        "ec2", "describe_instance_attribute", InstanceId=launched[0], Attribute="userData"
    )
    assert attribute["UserData"]["Value"] == b64(script)


def test_instances_report_the_version_they_were_launched_from(aws: Aws, seeded: Seeded) -> None:
    original = set(instance_versions(aws))
    v2 = new_version(aws, seeded, "#!/bin/bash\necho v2\n")
    aws.call(
        "ec2",
        "modify_launch_template",
        LaunchTemplateId=seeded.launch_template_id,
        DefaultVersion=str(v2),
    )
    versions = instance_versions(aws)
    assert {versions[i] for i in original} == {"1"}

    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=3)
    versions = instance_versions(aws)
    (added,) = set(versions) - original
    assert versions[added] == str(v2)  # the group points at $Default, which is now v2
    assert {versions[i] for i in original} == {"1"}


def test_update_group_with_version_number(aws: Aws, seeded: Seeded) -> None:
    v2 = new_version(aws, seeded, "#!/bin/bash\necho v2\n")
    pin_group(aws, seeded, v2)
    assert group(aws)["LaunchTemplate"]["Version"] == str(v2)
    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=4)
    assert sorted(instance_versions(aws).values()) == ["1", "1", str(v2), str(v2)]


def test_instances_spread_over_both_zones(aws: Aws, seeded: Seeded) -> None:
    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=4)
    zones = [i["AvailabilityZone"] for i in group(aws)["Instances"]]
    assert sorted(zones) == ["us-east-1a", "us-east-1a", "us-east-1c", "us-east-1c"]
    ids = [i["InstanceId"] for i in group(aws)["Instances"]]
    reservations = aws.call("ec2", "describe_instances", InstanceIds=ids)["Reservations"]
    subnets = {i["SubnetId"] for r in reservations for i in r["Instances"]}
    assert subnets == set(seeded.subnet_ids.values())


def test_scale_out_registers_and_scale_in_deregisters(
    sandbox: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    frozen(sandbox)
    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=3)
    members = set(instance_versions(aws))
    (booting,) = [
        i["InstanceId"] for i in group(aws)["Instances"] if i["LifecycleState"] == "Pending"
    ]
    assert booting not in target_states(aws, seeded.target_group_arn)
    sandbox.clock.advance(180)  # boots (60 s), starts the app, passes two checks 30 s apart
    assert target_states(aws, seeded.target_group_arn) == dict.fromkeys(members, "healthy")

    aws.call("autoscaling", "set_desired_capacity", AutoScalingGroupName=GROUP, DesiredCapacity=2)
    remaining = set(instance_versions(aws))
    (gone,) = members - remaining
    states = target_states(aws, seeded.target_group_arn)
    assert states[gone] == "draining"
    assert {i: states[i] for i in remaining} == dict.fromkeys(remaining, "healthy")


def test_self_healing_replacement_is_registered(sandbox: Sandbox, aws: Aws, seeded: Seeded) -> None:
    frozen(sandbox)
    victim, survivor = sorted(instance_versions(aws))
    aws.call("ec2", "terminate_instances", InstanceIds=[victim])
    sandbox.clock.advance(180)
    members = set(instance_versions(aws))
    assert victim not in members and survivor in members and len(members) == 2
    states = target_states(aws, seeded.target_group_arn)
    assert states[victim] == "draining"
    assert {i: states[i] for i in members} == dict.fromkeys(members, "healthy")


def test_terminate_in_group_deregisters_and_registers_replacement(
    sandbox: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    frozen(sandbox)
    victim = sorted(instance_versions(aws))[0]
    aws.call(
        "autoscaling",
        "terminate_instance_in_auto_scaling_group",
        InstanceId=victim,
        ShouldDecrementDesiredCapacity=False,
    )
    sandbox.clock.advance(180)
    members = set(instance_versions(aws))
    assert victim not in members and len(members) == 2
    states = target_states(aws, seeded.target_group_arn)
    assert states[victim] == "draining"
    assert {i: states[i] for i in members} == dict.fromkeys(members, "healthy")


def test_draining_ends_after_the_deregistration_delay(
    sandbox: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    victim = sorted(instance_versions(aws))[0]
    aws.call("ec2", "terminate_instances", InstanceIds=[victim])
    assert target_states(aws, seeded.target_group_arn)[victim] == "draining"
    sandbox.clock.advance(301)
    assert victim not in target_states(aws, seeded.target_group_arn)
    asked = aws.call(
        "elbv2",
        "describe_target_health",
        TargetGroupArn=seeded.target_group_arn,
        Targets=[{"Id": victim}],
    )["TargetHealthDescriptions"][0]["TargetHealth"]
    assert asked["State"] == "unused" and asked["Reason"] == "Target.NotRegistered"


def test_stopped_instance_is_not_healthy(aws: Aws, seeded: Seeded) -> None:
    stopped = sorted(instance_versions(aws))[0]
    aws.call("ec2", "stop_instances", InstanceIds=[stopped])
    # EC2 health marks it Unhealthy and the group replaces it at once (UG-health; row C3): it
    # is deregistered, so its target drains instead of showing healthy.
    assert target_states(aws, seeded.target_group_arn)[stopped] == "draining"


class _FailingChecks:
    def health(self, target: TargetView, now: datetime) -> TargetHealth:
        return TargetHealth("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


def test_target_health_comes_from_the_health_model(
    sandbox: Sandbox, aws: Aws, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With EC2 health checks the group keeps its instances whatever the load balancer says.
    aws.call(
        "autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP,
        HealthCheckType="EC2",
    )  # fmt: skip
    monkeypatch.setattr(sandbox.runtime, "health", _FailingChecks())
    health = aws.call("elbv2", "describe_target_health", TargetGroupArn=seeded.target_group_arn)
    found = health["TargetHealthDescriptions"]
    assert len(found) == 2
    assert {d["TargetHealth"]["Reason"] for d in found} == {"Target.FailedHealthChecks"}
    assert {d["TargetHealth"]["State"] for d in found} == {"unhealthy"}


def test_client_token_makes_version_creation_idempotent(aws: Aws, seeded: Seeded) -> None:
    first = new_version(aws, seeded, "#!/bin/bash\necho v2\n", ClientToken="asgr-abc")
    again = new_version(aws, seeded, "#!/bin/bash\necho v2\n", ClientToken="asgr-abc")
    assert again == first
    template = aws.call(
        "ec2", "describe_launch_templates", LaunchTemplateIds=[seeded.launch_template_id]
    )["LaunchTemplates"][0]
    assert template["LatestVersionNumber"] == first
    mismatch = lambda: new_version(aws, seeded, "other", ClientToken="asgr-abc")  # noqa: E731
    assert error_code(mismatch) == "IdempotentParameterMismatch"


def test_tags_on_group_template_and_target_group(aws: Aws, seeded: Seeded) -> None:
    owner = {"Key": "asg-reconciler/owner", "Value": "me"}
    aws.call(
        "autoscaling",
        "create_or_update_tags",
        Tags=[{**owner, "ResourceId": GROUP, "ResourceType": "auto-scaling-group",
               "PropagateAtLaunch": False}],
    )  # fmt: skip
    aws.call("ec2", "create_tags", Resources=[seeded.launch_template_id], Tags=[owner])
    aws.call("elbv2", "add_tags", ResourceArns=[seeded.target_group_arn], Tags=[owner])

    assert {(t["Key"], t["Value"]) for t in group(aws)["Tags"]} == {(owner["Key"], "me")}
    template = aws.call(
        "ec2", "describe_launch_templates", LaunchTemplateIds=[seeded.launch_template_id]
    )["LaunchTemplates"][0]
    assert owner in template["Tags"]
    described = aws.call("elbv2", "describe_tags", ResourceArns=[seeded.target_group_arn])
    assert owner in described["TagDescriptions"][0]["Tags"]


def _autoscaling_backend(seeded: Seeded) -> Any:
    from moto.autoscaling.models import autoscaling_backends

    return autoscaling_backends[seeded.account_id][seeded.region]


def test_manifests_are_stable_across_resets() -> None:
    assert images.manifest("v1.0") == images.manifest("v1.0")
    assert images.digest(images.manifest("v1.0")) != images.digest(images.manifest("v2.0"))


def test_only_one_sandbox_per_process(sandbox_server: Sandbox) -> None:
    with pytest.raises(SandboxError, match="already runs"):
        Sandbox(port=0).start()


def test_serve_prints_exports_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-c",
        f"from reconciler.sandbox import serve; raise SystemExit(serve(port={port}))",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line.rstrip())
            if "Ctrl-C" in line:
                break
        output = "\n".join(lines)
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in output
        assert "export AWS_ACCESS_KEY_ID=testing" in output
        assert "export AWS_SECRET_ACCESS_KEY=testing" in output
        assert "export AWS_DEFAULT_REGION=us-east-1" in output
        served = Aws(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
        assert served.call("autoscaling", "describe_auto_scaling_groups")["AutoScalingGroups"]
        # The second account is seeded, and reached as the reconciler reaches it.
        assert f"second account {accounts.SECOND_ACCOUNT}" in output
        theirs = served.assumed(AwsAccess(accounts.role_arn(), accounts.EXTERNAL_ID))
        assert theirs.call("sts", "get_caller_identity")["Account"] == accounts.SECOND_ACCOUNT
        assert theirs.call("autoscaling", "describe_auto_scaling_groups")["AutoScalingGroups"]
        process.send_signal(signal.SIGTERM)
        rest = process.stdout.read()
        assert process.wait(timeout=20) == 0
    assert "sandbox stopped" in rest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_clock_scales_wall_time_and_advances() -> None:
    wall = [100.0]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = SandboxClock(speed=10, start=start, monotonic=lambda: wall[0])
    wall[0] += 3
    assert clock.now() == start + timedelta(seconds=30)
    assert clock.advance(60) == start + timedelta(seconds=90)
    clock.speed = 0  # frozen: wall time no longer moves it
    wall[0] += 100
    assert clock.now() == start + timedelta(seconds=90)
    with pytest.raises(ValueError):
        clock.advance(-1)
