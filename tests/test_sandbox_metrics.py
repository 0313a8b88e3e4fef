"""The sandbox's ALB metrics through CloudWatch's real read APIs: GetMetricData and
GetMetricStatistics with Sum, Average, SampleCount and percentiles, period starts as
timestamps, StartTime inclusive and EndTime exclusive, exact dimensions (aws-facts 6); and the
store's own arithmetic on plain data."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reconciler.aws import Aws
from reconciler.errors import AwsApiError
from reconciler.sandbox import Sandbox
from reconciler.sandbox.metric_store import Bucket, MetricStore, is_statistic, key
from tests.sandbox_calls import NAMESPACE, dimensions, metric, next_minute


@pytest.fixture
def traffic(frozen: Sandbox, aws: Aws) -> tuple[datetime, datetime]:
    """Ten whole minutes of the seed's traffic: (start, end)."""
    start = next_minute(frozen)
    frozen.clock.advance(600)
    aws.call("cloudwatch", "describe_alarms")
    return start, start + timedelta(minutes=10)


def statistics(aws: Aws, start: datetime, end: datetime, period: int, **extra: Any) -> Any:
    return aws.call(
        "cloudwatch", "get_metric_statistics", Namespace=NAMESPACE,
        MetricName="TargetResponseTime", Dimensions=dimensions(aws), StartTime=start,
        EndTime=end, Period=period, **extra,
    )["Datapoints"]  # fmt: skip


def test_response_time_percentiles_follow_the_image(
    aws: Aws, traffic: tuple[datetime, datetime]
) -> None:
    """v1.1: median ~0.05 s, p99 ~0.25 s; the statistics are consistent with each other."""
    start, end = traffic
    series = {
        stat: metric(aws, "TargetResponseTime", stat, start, end, period=600)[0][1]
        for stat in ("p50", "p99", "p99.9", "Average", "Maximum", "Minimum", "SampleCount", "Sum")
    }
    assert 0.045 <= series["p50"] <= 0.055
    assert 0.21 <= series["p99"] <= 0.29
    assert series["Minimum"] < series["p50"] < series["p99"] < series["p99.9"] <= series["Maximum"]
    assert math.isclose(series["Average"], series["Sum"] / series["SampleCount"])
    requests = metric(aws, "RequestCount", "Sum", start, end, period=600)[0][1]
    assert series["SampleCount"] == requests  # every request answered, one sample each


def test_counters_are_samples_of_one(aws: Aws, traffic: tuple[datetime, datetime]) -> None:
    """aws-facts 6: for the count metrics Minimum, Maximum and Average are always 1."""
    start, end = traffic
    for stat in ("Minimum", "Maximum", "Average", "p99"):
        values = [v for _, v in metric(aws, "RequestCount", stat, start, end)]
        assert values == [1.0] * 10


def test_periods_start_at_start_time_and_end_time_is_exclusive(
    aws: Aws, traffic: tuple[datetime, datetime]
) -> None:
    start, end = traffic
    minutes = metric(aws, "RequestCount", "Sum", start, end)
    assert [t for t, _ in minutes] == [start + timedelta(minutes=i) for i in range(10)]
    fives = metric(aws, "RequestCount", "Sum", start, end, period=300)
    assert [t for t, _ in fives] == [start, start + timedelta(minutes=5)]
    assert [v for _, v in fives] == [
        sum(v for _, v in minutes[:5]),
        sum(v for _, v in minutes[5:]),
    ]
    # 30 s into the first minute rounds down to it; EndTime at the third minute excludes it.
    two = metric(
        aws, "RequestCount", "Sum", start + timedelta(seconds=30), start + timedelta(minutes=2)
    )
    assert two == minutes[:2]


def test_get_metric_data_is_newest_first_by_default(
    aws: Aws, traffic: tuple[datetime, datetime]
) -> None:
    start, end = traffic
    query = {
        "Id": "requests",
        "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": "RequestCount",
                       "Dimensions": dimensions(aws)},
            "Period": 60,
            "Stat": "Sum",
        },
    }  # fmt: skip
    (result,) = aws.call(
        "cloudwatch", "get_metric_data", MetricDataQueries=[query], StartTime=start, EndTime=end
    )["MetricDataResults"]
    assert result["Id"] == "requests" and result["StatusCode"] == "Complete"
    assert result["Timestamps"] == sorted(result["Timestamps"], reverse=True)
    assert len(result["Values"]) == 10


def test_get_metric_statistics_with_extended_statistics(
    aws: Aws, traffic: tuple[datetime, datetime]
) -> None:
    start, end = traffic
    (point,) = statistics(
        aws, start, end, 600, Statistics=["Average", "SampleCount"],
        ExtendedStatistics=["p99", "p50"],
    )  # fmt: skip
    assert point["Timestamp"] == start and point["Unit"] == "Seconds"
    p99 = metric(aws, "TargetResponseTime", "p99", start, end, period=600)[0][1]
    assert point["ExtendedStatistics"]["p99"] == p99
    assert point["ExtendedStatistics"]["p50"] < p99
    assert "Sum" not in point  # only what was asked for
    assert len(statistics(aws, start, end, 60, Statistics=["Sum"])) == 10


def test_a_target_group_query_must_name_the_load_balancer_too(
    aws: Aws, traffic: tuple[datetime, datetime]
) -> None:
    """aws-facts 6: each dimension combination is its own metric; TargetGroup alone has none."""
    start, end = traffic
    group_only = [d for d in dimensions(aws) if d["Name"] == "TargetGroup"]
    data = aws.call(
        "cloudwatch", "get_metric_statistics", Namespace=NAMESPACE, MetricName="RequestCount",
        Dimensions=group_only, StartTime=start, EndTime=end, Period=60, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert data == []


def test_a_period_that_is_not_whole_minutes_is_refused(
    aws: Aws, traffic: tuple[datetime, datetime]
) -> None:
    start, end = traffic
    with pytest.raises(AwsApiError, match="InvalidParameterValue"):
        metric(aws, "RequestCount", "Sum", start, end, period=90)


def test_user_metrics_keep_working(frozen: Sandbox, aws: Aws) -> None:
    """PutMetricData into one's own namespace is moto's, as before: readable both ways."""
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    aws.call(
        "cloudwatch", "put_metric_data", Namespace="Feedback/App",
        MetricData=[{"MetricName": "Orders", "Value": 3.0, "Timestamp": at, "Unit": "Count"},
                    {"MetricName": "Orders", "Value": 4.0, "Timestamp": at, "Unit": "Count"}],
    )  # fmt: skip
    query = {
        "Id": "orders",
        "MetricStat": {
            "Metric": {"Namespace": "Feedback/App", "MetricName": "Orders"},
            "Period": 60,
            "Stat": "Sum",
        },
    }
    (result,) = aws.call(
        "cloudwatch", "get_metric_data", MetricDataQueries=[query], StartTime=at,
        EndTime=at + timedelta(minutes=1),
    )["MetricDataResults"]  # fmt: skip
    assert result["Values"] == [7.0]
    (point,) = aws.call(
        "cloudwatch", "get_metric_statistics", Namespace="Feedback/App", MetricName="Orders",
        StartTime=at, EndTime=at + timedelta(minutes=1), Period=60, Statistics=["Maximum"],
    )["Datapoints"]  # fmt: skip
    assert point["Maximum"] == 4.0


# -- the store, on plain data ------------------------------------------------------------------

MOMENT = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "stat", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], "p50", 2.0),
        ([1.0, 2.0, 3.0, 4.0], "p75", 3.0),
        ([1.0, 2.0, 3.0, 4.0], "p100", 4.0),
        ([1.0, 2.0, 3.0, 4.0], "p0.01", 1.0),
        ([float(v) for v in range(1, 1001)], "p99", 990.0),
        ([float(v) for v in range(1, 1001)], "p99.9", 999.0),
        ([float(v) for v in range(1, 1001)], "p99.95", 1000.0),
        ([5.0], "p99", 5.0),
        ([2.0, 4.0], "Average", 3.0),
        ([2.0, 4.0], "Sum", 6.0),
        ([2.0, 4.0], "SampleCount", 2.0),
        ([2.0, 4.0], "Minimum", 2.0),
        ([2.0, 4.0], "Maximum", 4.0),
    ],
)
def test_bucket_statistics(values: list[float], stat: str, expected: float) -> None:
    bucket = Bucket()
    bucket.add_values(values)
    assert bucket.statistic(stat) == expected


def test_an_empty_bucket_has_no_statistics() -> None:
    assert Bucket().statistic("Sum") is None and Bucket().statistic("p99") is None


@pytest.mark.parametrize(
    ("stat", "known"),
    [("Sum", True), ("p99", True), ("p99.9", True), ("p99.99", True), ("p100", True),
     ("p", False), ("p99.999", False), ("p101", False), ("tm99", False), ("sum", False)],
)  # fmt: skip
def test_statistic_names(stat: str, known: bool) -> None:
    assert is_statistic(stat) is known


def test_only_complete_minutes_are_visible() -> None:
    store = MetricStore()
    metric_key = key("RequestCount", {"LoadBalancer": "app/a/1"})
    store.bucket(metric_key, MOMENT).add_ones(5)
    store.bucket(metric_key, MOMENT + timedelta(minutes=1)).add_ones(7)
    end = MOMENT + timedelta(minutes=5)
    store.visible_until = int((MOMENT + timedelta(seconds=30)).timestamp())  # 12:01 is filling
    assert [p.bucket.total for p in store.datapoints(metric_key, MOMENT, end, 60)] == [5.0]
    store.visible_until = int(end.timestamp())
    points = store.datapoints(metric_key, MOMENT, end, 120)
    assert [(p.timestamp.minute, p.bucket.total) for p in points] == [(0, 12.0)]


def test_list_metrics_shows_the_published_alb_metrics(
    aws: Aws, traffic: tuple[datetime, datetime]
) -> None:
    listed = aws.call("cloudwatch", "list_metrics", Namespace=NAMESPACE)["Metrics"]
    combos = {(m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in listed}
    assert ("RequestCount", ("LoadBalancer", "TargetGroup")) in combos
    assert ("RequestCount", ("LoadBalancer",)) in combos
    assert ("HealthyHostCount", ("LoadBalancer", "TargetGroup")) in combos
    assert not any(name == "HTTPCode_ELB_502_Count" for name, _ in combos)  # never happened
    only = aws.call(
        "cloudwatch", "list_metrics", Namespace=NAMESPACE, MetricName="TargetResponseTime",
        Dimensions=[{"Name": "TargetGroup"}],
    )["Metrics"]  # fmt: skip
    assert len(only) == 1 and {d["Name"] for d in only[0]["Dimensions"]} == {
        "LoadBalancer",
        "TargetGroup",
    }
