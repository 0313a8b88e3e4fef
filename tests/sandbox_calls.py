"""boto3-level reads and writes against the sandbox's seed, shared by the sandbox and rollout
tests: the newest instance refresh of the seed's group, a CloudWatch alarm on its target
group's 5xx, the ALB metrics CloudWatch returns for it, and a refresh to one of its images."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from reconciler.aws import Aws
from reconciler.sandbox import Seeded
from reconciler.sandbox.seed import GROUP, LOAD_BALANCER, TARGET_GROUP

NAMESPACE = "AWS/ApplicationELB"


def refresh(aws: Aws) -> dict[str, Any]:
    """The seed group's newest instance refresh, as DescribeInstanceRefreshes returns it."""
    found: dict[str, Any] = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP
    )["InstanceRefreshes"][0]
    return found


def dimensions(
    aws: Aws, *, group: bool = True, target_group: str = TARGET_GROUP
) -> list[dict[str, str]]:
    """The seed ALB's metric dimensions (aws-facts 6): ``LoadBalancer = app/<name>/<id>``, and
    with ``group`` also ``TargetGroup = targetgroup/<name>/<id>`` of the target group named
    ``target_group`` (the seed's by default), read from ELB's ARNs."""
    (balancer,) = aws.call("elbv2", "describe_load_balancers", Names=[LOAD_BALANCER])[
        "LoadBalancers"
    ]
    found = [
        {"Name": "LoadBalancer", "Value": balancer["LoadBalancerArn"].split(":loadbalancer/")[1]}
    ]
    if group:
        (described,) = aws.call("elbv2", "describe_target_groups", Names=[target_group])[
            "TargetGroups"
        ]
        found.append({"Name": "TargetGroup", "Value": described["TargetGroupArn"].split(":")[-1]})
    return found


def put_alarm(aws: Aws, name: str, **overrides: Any) -> None:
    """A metric alarm on the seed target group's 5xx count: more than 10 in a minute, missing
    minutes (no 5xx at all, aws-facts 6) counted as within the threshold. An override of None
    leaves that parameter out."""
    params: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": NAMESPACE,
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Dimensions": dimensions(aws),
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 10,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }
    chosen = {k: v for k, v in {**params, **overrides}.items() if v is not None}
    aws.call("cloudwatch", "put_metric_alarm", **chosen)


def alarm(aws: Aws, name: str) -> dict[str, Any]:
    (found,) = aws.call("cloudwatch", "describe_alarms", AlarmNames=[name])["MetricAlarms"]
    return dict(found)


def metric(
    aws: Aws, name: str, stat: str, start: datetime, end: datetime, *, period: int = 60,
    group: bool = True, target_group: str = TARGET_GROUP,
) -> list[tuple[datetime, float]]:  # fmt: skip
    """(period start, value) of one ALB metric through GetMetricData, oldest first; of the
    target group named ``target_group`` (with ``group``), or of the whole load balancer."""
    scope = dimensions(aws, group=group, target_group=target_group)
    query = {
        "Id": "m",
        "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": scope},
            "Period": period,
            "Stat": stat,
        },
    }  # fmt: skip
    (result,) = aws.call(
        "cloudwatch", "get_metric_data", MetricDataQueries=[query], StartTime=start, EndTime=end,
        ScanBy="TimestampAscending",
    )["MetricDataResults"]  # fmt: skip
    return list(zip(result["Timestamps"], result["Values"], strict=True))


def pin_group(aws: Aws, seeded: Seeded, version: int | str = 1, *, group: str = GROUP) -> None:
    """Point the group (the seed's, by default) at a numbered version: AutoRollback needs one
    to return to (1.6)."""
    aws.call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateId": seeded.launch_template_id, "Version": str(version)},
    )


def script(seeded: Seeded, image: str) -> str:
    """The boot script of a version running the seed repository's ``image`` (``:tag``/``@…``),
    logged in to ECR first as an instance must be (the sandbox checks it, registry_login)."""
    registry = seeded.repository_uri.partition("/")[0]
    return (
        "#!/bin/bash\n"
        f"aws ecr get-login-password --region {seeded.region}"
        f" | docker login --username AWS --password-stdin {registry}\n"
        f"docker run -d -p 8080:8080 {seeded.repository_uri}{image}\n"
    )


def pinned(seeded: Seeded, tag: str) -> str:
    return script(seeded, "@" + seeded.image_digests[tag])


def version_with(aws: Aws, seeded: Seeded, user_data: str) -> int:
    """A new launch template version from version 1 with ``user_data``; its number."""
    created = aws.call(
        "ec2",
        "create_launch_template_version",
        LaunchTemplateId=seeded.launch_template_id,
        SourceVersion="1",
        LaunchTemplateData={"UserData": base64.b64encode(user_data.encode()).decode()},
    )
    number: int = created["LaunchTemplateVersion"]["VersionNumber"]
    return number


def image_version(aws: Aws, seeded: Seeded, tag: str) -> int:
    """A launch template version whose UserData runs ``tag``'s image, pinned by digest."""
    return version_with(aws, seeded, pinned(seeded, tag))


def start_refresh(aws: Aws, seeded: Seeded, version: int, preferences: dict[str, Any]) -> str:
    """Start a refresh of the seed group to launch template ``version``; the refresh id."""
    refresh_id: str = aws.call(
        "autoscaling",
        "start_instance_refresh",
        AutoScalingGroupName=GROUP,
        DesiredConfiguration={
            "LaunchTemplate": {
                "LaunchTemplateId": seeded.launch_template_id,
                "Version": str(version),
            }
        },
        Preferences=preferences,
    )["InstanceRefreshId"]
    return refresh_id


def deploy(aws: Aws, seeded: Seeded, tag: str, **prefs: Any) -> str:
    """Start a refresh of the (pinned) seed group to ``tag``; returns the refresh id."""
    version = image_version(aws, seeded, tag)
    preferences = {"MinHealthyPercentage": 50, "InstanceWarmup": 300, **prefs}
    return start_refresh(aws, seeded, version, preferences)


def next_minute(sandbox: Any) -> datetime:
    """Move the stopped clock to the next whole minute, and the world with it (one read)."""
    now = sandbox.clock.now()
    boundary = datetime.fromtimestamp((int(now.timestamp()) // 60 + 1) * 60, UTC)
    sandbox.clock.advance((boundary - now).total_seconds())
    aws = sandbox.aws()
    aws.call("cloudwatch", "describe_alarms")
    return boundary
