"""The analysis's CloudWatch read: one GetMetricData for a region's rollouts, against the sandbox.

The sandbox publishes the ALB metrics of its simulated traffic per minute, as AWS does; these
tests read them back through ``observe.metrics`` and compare with what GetMetricStatistics says.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.aws import Aws
from reconciler.pipeline.observe.metrics import MetricRequest, _batches, dimension, read_metrics
from reconciler.sandbox import Sandbox, Seeded

MINUTE = 60


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/feedback-tg/6d0ecf831eec9f09",
            "targetgroup/feedback-tg/6d0ecf831eec9f09",
        ),
        (
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/feedback-alb/50dc6c495c0c9188",
            "app/feedback-alb/50dc6c495c0c9188",
        ),
    ],
)
def test_dimension_values_are_the_arn_tails_aws_publishes(arn: str, expected: str) -> None:
    assert dimension(arn) == expected


def request(key: str, *, balancers: int = 1, minutes: int = 60) -> MetricRequest:
    return MetricRequest(
        key=key,
        target_group_arn="arn:aws:elasticloadbalancing:r:1:targetgroup/t/1",
        load_balancer_arns=tuple(
            f"arn:aws:elasticloadbalancing:r:1:loadbalancer/app/b/{i}" for i in range(balancers)
        ),
        period=MINUTE,
        start=0.0,
        end=minutes * MINUTE,
    )


@pytest.mark.parametrize(
    ("services", "balancers", "minutes", "calls"),
    [
        (1, 1, 60, 1),
        (166, 1, 60, 1),  # 498 queries
        (167, 1, 60, 2),  # 501 queries: over GetMetricData's 500
        (50, 2, 60, 1),  # 300 queries
        (3, 1, 20000, 3),  # 60,003 points each: over 100,800 points a call
    ],
)
def test_rollouts_share_calls_within_getmetricdata_limits(
    services: int, balancers: int, minutes: int, calls: int
) -> None:
    batches = list(
        _batches([request(f"s{i}", balancers=balancers, minutes=minutes) for i in range(services)])
    )
    assert len(batches) == calls
    assert sum(len(b) for b in batches) == services


def test_points_read_back_what_cloudwatch_holds(sandbox: Sandbox, seeded: Seeded, aws: Aws) -> None:
    sandbox.clock.speed = 0
    sandbox.traffic.rate = 10.0
    aws.call("autoscaling", "describe_auto_scaling_groups")  # starts the traffic's clock
    sandbox.clock.advance(15 * MINUTE)
    tg = aws.call("elbv2", "describe_target_groups", Names=["feedback-tg"])["TargetGroups"][0]
    now = aws.server_time()  # the Date of the answer just read: the sandbox's clock
    end = now - now % MINUTE
    start = end - 10 * MINUTE
    found = read_metrics(
        aws,
        "us-east-1",
        [
            MetricRequest(
                key="feedback",
                target_group_arn=tg["TargetGroupArn"],
                load_balancer_arns=tuple(tg["LoadBalancerArns"]),
                period=MINUTE,
                start=start,
                end=end,
            )
        ],
    )["feedback"]
    assert [p.start for p in found] == [start + MINUTE * i for i in range(10)]
    assert all(p.requests is not None and 400 < p.requests < 800 for p in found)  # 600/min, Poisson
    assert all(p.p99 is not None and 0 < p.p99 < 1 for p in found)
    statistics = aws.call(
        "cloudwatch",
        "get_metric_statistics",
        Namespace="AWS/ApplicationELB",
        MetricName="RequestCount",
        Dimensions=[
            {"Name": "TargetGroup", "Value": dimension(tg["TargetGroupArn"])},
            {"Name": "LoadBalancer", "Value": dimension(tg["LoadBalancerArns"][0])},
        ],
        StartTime=datetime.fromtimestamp(start, UTC),
        EndTime=datetime.fromtimestamp(end, UTC),
        Period=10 * MINUTE,
        Statistics=["Sum"],
    )["Datapoints"]
    assert [d["Sum"] for d in statistics] == [sum(p.requests or 0 for p in found)]


def test_no_traffic_is_no_data_not_zero(sandbox: Sandbox, seeded: Seeded, aws: Aws) -> None:
    sandbox.clock.speed = 0
    sandbox.traffic.rate = 0.0
    aws.call("autoscaling", "describe_auto_scaling_groups")
    sandbox.clock.advance(5 * MINUTE)
    tg = aws.call("elbv2", "describe_target_groups", Names=["feedback-tg"])["TargetGroups"][0]
    now = aws.server_time()
    end = now - now % MINUTE
    request = MetricRequest(
        key="feedback",
        target_group_arn=tg["TargetGroupArn"],
        load_balancer_arns=tuple(tg["LoadBalancerArns"]),
        period=MINUTE,
        start=end - 3 * MINUTE,
        end=end,
    )
    found = read_metrics(aws, "us-east-1", [request])["feedback"]
    assert [(p.requests, p.errors, p.p99) for p in found] == [(None, None, None)] * 3


def test_windows_are_measured_on_aws_clock_not_the_local_one(sandbox: Sandbox, aws: Aws) -> None:
    # The Date of every answer is AWS's (here the sandbox's) clock, a day ahead of this machine.
    sandbox.clock.speed = 0
    sandbox.clock.advance(86400)
    aws.call("autoscaling", "describe_auto_scaling_groups")
    assert abs(aws.server_time() - sandbox.clock.now().timestamp()) < 1.5
    assert aws.server_time() - datetime.now(UTC).timestamp() > 86000
