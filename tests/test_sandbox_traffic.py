"""Traffic through the sandbox's ALB: requests at the chosen rate with Poisson noise, split by
listener weights, served by healthy targets (or all of them, failing open), as CloudWatch
then reports it (aws-facts 3.2, 6, 7). Real boto3 against the sandbox, the clock stopped."""

from __future__ import annotations

import random
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox, Seeded, sampling
from reconciler.sandbox.seed import GROUP
from reconciler.sandbox.serving import forwards
from tests.sandbox_calls import deploy, metric, next_minute, pin_group, refresh

MINUTES = 10


@pytest.fixture
def still(sandbox: Sandbox) -> Sandbox:
    sandbox.clock.speed = 0
    return sandbox


def run(sandbox: Sandbox, aws: Aws, minutes: int = MINUTES) -> tuple[Any, Any]:
    """``minutes`` whole minutes of traffic from a minute boundary: (start, end)."""
    start = next_minute(sandbox)
    sandbox.clock.advance(60 * minutes)
    end = start + timedelta(minutes=minutes)
    aws.call("cloudwatch", "describe_alarms")  # the world (and its traffic) reaches ``end``
    return start, end


def total(points: list[tuple[Any, float]]) -> float:
    return sum(value for _, value in points)


def test_requests_arrive_at_the_rate_with_poisson_noise(still: Sandbox, aws: Aws) -> None:
    start, end = run(still, aws)
    per_minute = [v for _, v in metric(aws, "RequestCount", "Sum", start, end, group=False)]
    assert len(per_minute) == MINUTES
    # 10 requests/s: 600 a minute, Poisson (sd ~24.5): within 5 sd, and not all the same.
    assert all(480 <= v <= 720 for v in per_minute)
    assert len(set(per_minute)) > 1
    assert 0.95 * 6000 <= sum(per_minute) <= 1.05 * 6000
    # The target group, the only one the listener forwards to, gets them all.
    assert metric(aws, "RequestCount", "Sum", start, end) == metric(
        aws, "RequestCount", "Sum", start, end, group=False
    )


def test_the_rate_is_the_tests_to_choose(still: Sandbox, aws: Aws) -> None:
    still.traffic.rate = 20.0
    start, end = run(still, aws, 5)
    assert 0.95 * 6000 <= total(metric(aws, "RequestCount", "Sum", start, end)) <= 1.05 * 6000


def test_without_requests_nothing_is_published(still: Sandbox, aws: Aws) -> None:
    """ELB-metrics: no requests flowing, no metrics at all, host counts included."""
    still.traffic.rate = 0
    start, end = run(still, aws, 5)
    for name in ("RequestCount", "HealthyHostCount", "TargetResponseTime"):
        assert metric(aws, name, "Sum", start, end) == []


def test_zero_counters_are_absent(still: Sandbox, aws: Aws) -> None:
    """aws-facts 6: a zero count is not reported, so no 5xx means no data point at all."""
    still.behaviours.set("v1.1", error_rate=0.0)
    start, end = run(still, aws, 5)
    assert len(metric(aws, "HTTPCode_Target_2XX_Count", "Sum", start, end)) == 5
    for name in ("HTTPCode_Target_5XX_Count", "TargetConnectionErrorCount"):
        assert metric(aws, name, "Sum", start, end) == []
    assert metric(aws, "HTTPCode_ELB_5XX_Count", "Sum", start, end, group=False) == []
    healthy = metric(aws, "HealthyHostCount", "Average", start, end)
    assert [v for _, v in healthy] == [2.0] * 5


def test_the_same_seed_gives_the_same_traffic(still: Sandbox, aws: Aws) -> None:
    runs = []
    for _ in range(2):
        still.reseed()
        aws = still.aws()
        next_minute(still)
        still.traffic.seed = 7
        start, end = run(still, aws, 3)
        runs.append([v for _, v in metric(aws, "TargetResponseTime", "p99", start, end)])
    assert runs[0] == runs[1] and len(runs[0]) == 3


def serve_alone(still: Sandbox, aws: Aws, seeded: Seeded, tag: str) -> tuple[Any, Any]:
    """Refresh the group to ``tag`` and wait until only it serves; then 10 minutes of it."""
    pin_group(aws, seeded)
    deploy(aws, seeded, tag)
    for _ in range(40):
        still.clock.advance(60)
        if refresh(aws)["Status"] == "Successful":
            break
    assert refresh(aws)["Status"] == "Successful"
    still.clock.advance(600)  # the old instances have drained (300 s) long before
    return run(still, aws)


def test_v2_1_answers_30_percent_of_requests_with_500(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """The seed's incident: healthy by its health check, 500 for 30% of requests."""
    start, end = serve_alone(still, aws, seeded, "v2.1")
    requests = total(metric(aws, "RequestCount", "Sum", start, end))
    errors = total(metric(aws, "HTTPCode_Target_5XX_Count", "Sum", start, end))
    assert requests > 5000
    assert 0.27 <= errors / requests <= 0.33
    assert [v for _, v in metric(aws, "HealthyHostCount", "Minimum", start, end)] == [2.0] * 10


def test_v1_2_slow_has_a_p99_of_about_3_seconds(still: Sandbox, aws: Aws, seeded: Seeded) -> None:
    start, end = serve_alone(still, aws, seeded, "v1.2-slow")
    ((_, p99),) = metric(aws, "TargetResponseTime", "p99", start, end, period=600)
    assert 2.4 <= p99 <= 3.7  # ~0.14 s standard error on 6000 samples
    errors = total(metric(aws, "HTTPCode_Target_5XX_Count", "Sum", start, end))
    assert errors < 30  # 0.1% of ~6000


def second_target_group(aws: Aws, seeded: Seeded) -> str:
    arn: str = aws.call(
        "elbv2",
        "create_target_group",
        Name="canary-tg",
        Protocol="HTTP",
        Port=8080,
        VpcId=seeded.vpc_id,
        HealthCheckPath="/actuator/health",
        HealthCheckIntervalSeconds=30,
        HealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    members = aws.call("elbv2", "describe_target_health", TargetGroupArn=seeded.target_group_arn)
    targets = [{"Id": t["Target"]["Id"], "Port": 8080} for t in members["TargetHealthDescriptions"]]
    aws.call("elbv2", "register_targets", TargetGroupArn=arn, Targets=targets)
    return arn


def test_a_weighted_forward_splits_requests_by_weight(
    still: Sandbox, aws: Aws, seeded: Seeded
) -> None:
    """aws-facts 7: traffic splits in proportion to the ForwardConfig weights (3:1 here)."""
    canary = second_target_group(aws, seeded)
    groups = [
        {"TargetGroupArn": seeded.target_group_arn, "Weight": 3},
        {"TargetGroupArn": canary, "Weight": 1},
    ]
    aws.call(
        "elbv2",
        "modify_listener",
        ListenerArn=seeded.listener_arn,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
    )
    still.clock.advance(300)  # the canary's targets pass their checks
    start, end = run(still, aws)
    main = total(metric(aws, "RequestCount", "Sum", start, end))
    whole = total(metric(aws, "RequestCount", "Sum", start, end, group=False))
    assert 0.72 <= main / whole <= 0.78
    query = {"Name": "TargetGroup", "Value": canary.split(":")[-1]}
    balancer = {
        "Name": "LoadBalancer",
        "Value": seeded.load_balancer_arn.split(":loadbalancer/")[1],
    }
    data = aws.call(
        "cloudwatch", "get_metric_statistics", Namespace="AWS/ApplicationELB",
        MetricName="RequestCount", Dimensions=[balancer, query], StartTime=start, EndTime=end,
        Period=600, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert abs(data[0]["Sum"] + main - whole) < 1e-9


def test_with_no_healthy_target_the_group_fails_open_to_502s(still: Sandbox, aws: Aws) -> None:
    """aws-facts 3.2 (ELB-hc): with every target unhealthy ELB routes to all of them; an app
    that does not listen makes ELB answer 502 and count connection errors, not target 5xx."""
    aws.call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName=GROUP,
        HealthCheckType="EC2",
    )  # fmt: skip  (no replacement of the unhealthy instances: only the load balancer acts)
    still.behaviours.set("v1.1", healthy=False)
    still.clock.advance(120)  # two failed checks: unhealthy
    start, end = run(still, aws, 5)
    requests = total(metric(aws, "RequestCount", "Sum", start, end))
    assert requests > 2500  # still routed: fail-open
    assert total(metric(aws, "TargetConnectionErrorCount", "Sum", start, end)) == requests
    assert total(metric(aws, "HTTPCode_ELB_502_Count", "Sum", start, end, group=False)) == requests
    assert total(metric(aws, "HTTPCode_ELB_5XX_Count", "Sum", start, end, group=False)) == requests
    assert metric(aws, "HTTPCode_Target_5XX_Count", "Sum", start, end) == []
    assert metric(aws, "TargetResponseTime", "Average", start, end) == []
    assert [v for _, v in metric(aws, "HealthyHostCount", "Maximum", start, end)] == [0.0] * 5
    assert [v for _, v in metric(aws, "UnHealthyHostCount", "Minimum", start, end)] == [2.0] * 5


def test_with_no_registered_target_elb_answers_503(still: Sandbox, aws: Aws) -> None:
    aws.call(
        "autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MinSize=0,
        DesiredCapacity=0,
    )  # fmt: skip
    still.clock.advance(60)
    start, end = run(still, aws, 3)
    assert metric(aws, "RequestCount", "Sum", start, end) == []  # no target was chosen
    per_minute = metric(aws, "HTTPCode_ELB_503_Count", "Sum", start, end, group=False)
    assert len(per_minute) == 3 and all(480 <= v <= 720 for _, v in per_minute)


# -- routing and sampling, on plain data -------------------------------------------------------


def listener(*actions: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(default_actions=[SimpleNamespace(data=a) for a in actions])


def forward(*weights: tuple[str, int]) -> dict[str, Any]:
    groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights]
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}


ROUTES: list[tuple[str, list[SimpleNamespace], dict[str, float]]] = [
    ("one target group", [listener({"Type": "forward", "TargetGroupArn": "a"})], {"a": 1.0}),
    ("weights 3:1", [listener(forward(("a", 3), ("b", 1)))], {"a": 0.75, "b": 0.25}),
    ("weight 0 sends nothing", [listener(forward(("a", 5), ("b", 0)))], {"a": 1.0, "b": 0.0}),
    (
        "two listeners share evenly",
        [listener({"Type": "forward", "TargetGroupArn": "a"}), listener(forward(("b", 1)))],
        {"a": 0.5, "b": 0.5},
    ),
    (
        "a redirecting listener gets none",
        [listener({"Type": "redirect"}), listener({"Type": "forward", "TargetGroupArn": "a"})],
        {"a": 1.0},
    ),
    ("all weights 0: nowhere", [listener(forward(("a", 0)))], {}),
    ("no listener", [], {}),
]


@pytest.mark.parametrize(
    ("listeners", "expected"), [r[1:] for r in ROUTES], ids=[r[0] for r in ROUTES]
)
def test_forward_shares(listeners: list[SimpleNamespace], expected: dict[str, float]) -> None:
    balancer = SimpleNamespace(listeners={str(i): item for i, item in enumerate(listeners)})
    assert dict(forwards(balancer)) == pytest.approx(expected)


@pytest.mark.parametrize("mean", [0.0, 0.5, 5.0, 29.0, 50.0, 600.0])
def test_poisson_draws_have_the_mean_and_variance(mean: float) -> None:
    rng = random.Random(1)
    draws = [sampling.poisson(rng, mean) for _ in range(4000)]
    average = sum(draws) / len(draws)
    variance = sum((d - average) ** 2 for d in draws) / len(draws)
    assert average == pytest.approx(mean, abs=max(0.05, 0.05 * mean))
    assert variance == pytest.approx(mean, abs=max(0.1, 0.1 * mean))
    assert min(draws) >= 0


@pytest.mark.parametrize(
    ("trials", "chance"), [(0, 0.5), (10, 0.0), (10, 1.0), (50, 0.1), (600, 0.3), (5000, 0.001)]
)
def test_binomial_draws_stay_in_range_with_the_mean(trials: int, chance: float) -> None:
    rng = random.Random(2)
    draws = [sampling.binomial(rng, trials, chance) for _ in range(2000)]
    assert all(0 <= d <= trials for d in draws)
    assert sum(draws) / len(draws) == pytest.approx(trials * chance, abs=0.05 * trials + 0.05)


@pytest.mark.parametrize(
    ("total", "weights"), [(1000, [3.0, 1.0]), (7, [1.0, 0.0, 1.0]), (0, [1.0]), (5, [0.0])]
)
def test_split_hands_out_every_request_by_weight(total: int, weights: list[float]) -> None:
    counts = sampling.split(random.Random(3), total, weights)
    assert sum(counts) == (total if sum(weights) else 0)
    assert all(c == 0 for c, w in zip(counts, weights, strict=True) if w == 0)


@pytest.mark.parametrize(("total", "ways"), [(10, 3), (2, 5), (9, 3), (0, 2)])
def test_round_robin_is_even(total: int, ways: int) -> None:
    counts = sampling.even(random.Random(4), total, ways)
    assert sum(counts) == total and max(counts) - min(counts) <= 1
