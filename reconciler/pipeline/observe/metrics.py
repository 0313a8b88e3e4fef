"""The target groups' ALB metrics for rollout analysis: one GetMetricData for a region's rollouts.

Per (target group, load balancer) pair, three MetricStat queries in ``AWS/ApplicationELB``
(aws-facts 6): ``RequestCount`` and ``HTTPCode_Target_5XX_Count`` with ``Sum``, and
``TargetResponseTime`` with ``p99``, with ``Period`` the analysis interval. A per-target-group
metric exists only with both ``TargetGroup`` and ``LoadBalancer`` dimensions, so a target group
behind two load balancers is two pairs, summed (requests, errors) or taken at their worst (p99).

Every rollout of the region shares one call (GetMetricData takes up to 500 queries and 100,800
data points, [M GetMetricData]), cut into several when that is exceeded; the time range is the
union of the rollouts' windows, and each rollout keeps the periods inside its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.aws import Aws
from reconciler.model import MetricPoint
from reconciler.pipeline.observe.shapes import epoch as _epoch

NAMESPACE = "AWS/ApplicationELB"
_QUERIES_PER_CALL = 500
_POINTS_PER_CALL = 100_800
# (query suffix, metric, statistic)
_STATS = (
    ("r", "RequestCount", "Sum"),
    ("e", "HTTPCode_Target_5XX_Count", "Sum"),
    ("p", "TargetResponseTime", "p99"),
)


@dataclass(frozen=True, slots=True)
class MetricRequest:
    """One rollout's metrics to read: ``[start, end)`` in periods of ``period`` seconds."""

    key: str  # the service name
    target_group_arn: str
    load_balancer_arns: tuple[str, ...]
    period: int
    start: float
    end: float


def dimension(arn: str) -> str:
    """``arn:aws:elasticloadbalancing:…:targetgroup/name/id`` → ``targetgroup/name/id``; the
    same for ``loadbalancer/app/name/id`` → ``app/name/id`` (aws-facts 6)."""
    resource = arn.split(":", 5)[-1]
    return resource.removeprefix("loadbalancer/")


def read_metrics(
    aws: Aws, region: str, requests: Sequence[MetricRequest]
) -> dict[str, tuple[MetricPoint, ...]]:
    """Each request's points, oldest first. Raises what ``Aws.call`` raises."""
    wanted = [r for r in requests if r.load_balancer_arns and r.end > r.start]
    values: dict[str, dict[float, float]] = {}
    for batch in _batches(wanted):
        values.update(_fetch(aws, region, batch))
    return {r.key: _points(r, values) for r in requests}


def _batches(requests: Sequence[MetricRequest]) -> Iterator[list[MetricRequest]]:
    batch: list[MetricRequest] = []
    queries = points = 0
    for request in requests:
        more_queries = len(_STATS) * len(request.load_balancer_arns)
        more_points = more_queries * (int(request.end - request.start) // request.period + 1)
        if batch and (
            queries + more_queries > _QUERIES_PER_CALL or points + more_points > _POINTS_PER_CALL
        ):
            yield batch
            batch, queries, points = [], 0, 0
        batch.append(request)
        queries += more_queries
        points += more_points
    if batch:
        yield batch


def _fetch(aws: Aws, region: str, batch: Sequence[MetricRequest]) -> dict[str, dict[float, float]]:
    queries = [q for index, request in enumerate(batch) for q in _queries(index, request)]
    start = min(r.start for r in batch)
    end = max(r.end for r in batch)
    found: dict[str, dict[float, float]] = {}
    token: str | None = None
    while True:
        params: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
            "ScanBy": "TimestampAscending",
        }
        if token:
            params["NextToken"] = token
        page = aws.call("cloudwatch", "get_metric_data", region=region, **params)
        for result in page.get("MetricDataResults", []):
            series = found.setdefault(str(result["Id"]), {})
            stamps, numbers = result.get("Timestamps", []), result.get("Values", [])
            for stamp, value in zip(stamps, numbers, strict=True):
                series[_epoch(stamp)] = float(value)
        token = page.get("NextToken")
        if not token:
            return {_request_key(batch, query_id): s for query_id, s in found.items()}


def _queries(index: int, request: MetricRequest) -> Iterator[dict[str, Any]]:
    for balancer_index, balancer in enumerate(request.load_balancer_arns):
        dimensions = [
            {"Name": "TargetGroup", "Value": dimension(request.target_group_arn)},
            {"Name": "LoadBalancer", "Value": dimension(balancer)},
        ]
        for suffix, metric, stat in _STATS:
            yield {
                "Id": f"q{index}_{balancer_index}_{suffix}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": metric,
                        "Dimensions": dimensions,
                    },
                    "Period": request.period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }


def _request_key(batch: Sequence[MetricRequest], query_id: str) -> str:
    """``q3_1_p`` → ``<service>/1/p``: the service, the load balancer, the statistic."""
    index, balancer, suffix = query_id[1:].split("_")
    return f"{batch[int(index)].key}/{balancer}/{suffix}"


def _points(
    request: MetricRequest, values: Mapping[str, Mapping[float, float]]
) -> tuple[MetricPoint, ...]:
    points = []
    start = request.start
    while start < request.end:
        points.append(_point(request, values, start))
        start += request.period
    return tuple(points)


def _point(
    request: MetricRequest, values: Mapping[str, Mapping[float, float]], start: float
) -> MetricPoint:
    def series(balancer: int, suffix: str) -> float | None:
        return values.get(f"{request.key}/{balancer}/{suffix}", {}).get(start)

    balancers = range(len(request.load_balancer_arns))
    requests = [v for b in balancers if (v := series(b, "r")) is not None]
    errors = [v for b in balancers if (v := series(b, "e")) is not None]
    p99s = [v for b in balancers if (v := series(b, "p")) is not None]
    return MetricPoint(
        start=start,
        requests=sum(requests) if requests else None,
        errors=sum(errors) if errors else None,
        p99=max(p99s) if p99s else None,
    )
