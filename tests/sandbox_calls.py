"""boto3-level reads and writes against the sandbox's seed, shared by the sandbox and rollout
tests: the newest instance refresh of the seed's group, and a CloudWatch alarm on its ALB."""

from __future__ import annotations

from typing import Any

from reconciler.aws import Aws
from reconciler.sandbox.seed import GROUP


def refresh(aws: Aws) -> dict[str, Any]:
    """The seed group's newest instance refresh, as DescribeInstanceRefreshes returns it."""
    found: dict[str, Any] = aws.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP
    )["InstanceRefreshes"][0]
    return found


def put_alarm(aws: Aws, name: str) -> None:
    """A metric alarm on the ALB's target 5xx count: more than 10 in a minute."""
    aws.call(
        "cloudwatch",
        "put_metric_alarm",
        AlarmName=name,
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
