"""Traffic on the sandbox clock: requests minute by minute, published as ALB metrics.

``step`` is called at the end of every simulation step. It replays requests from where it
left off to the step's moment in pieces that never cross a minute boundary: while the world is
busy the simulation steps every 5 s, so pieces are 5 s long; when it jumps time in one step,
every whole minute in between is its own piece, served with the targets' health at that
minute (registrations are those of the step's moment, which is what "at rest" means). Traffic
never makes the world busy, so a test that advances two hours pays about 120 pieces.

Each piece draws Poisson arrivals at ``Sandbox.traffic.rate`` per load balancer from the seeded
``Sandbox.traffic.random`` (``serving`` routes and counts them). When a minute is complete its
data points become visible to GetMetricData (``fixes.cloudwatch_metrics``), and the metric
alarms are evaluated at that minute boundary (``alarm_evaluation``). As on AWS (aws-facts 6):
nothing is published for a minute without requests, counters that are 0 are absent, and
``HealthyHostCount`` / ``UnHealthyHostCount`` (TargetGroup+LoadBalancer, the targets' states
at the minute's start) are published for each target group a load balancer with requests
forwards to. The first call only starts the clock: no traffic before the sandbox looked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends

from reconciler.sandbox import alarm_evaluation, runtime, sampling, serving
from reconciler.sandbox.metric_store import MINUTE, MetricStore, key, minute_of
from reconciler.sandbox.state import attached


@dataclass(slots=True)
class TrafficState:
    last: datetime | None = None  # requests are generated up to here
    store: MetricStore = field(default_factory=MetricStore)
    busy_balancers: set[str] = field(default_factory=set)  # had requests this minute
    # (balancer dimension, target group dimension) -> (healthy, unhealthy) at the minute start
    hosts: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)


def state_of(cloudwatch: Any) -> TrafficState:
    """The traffic bookkeeping of one CloudWatch backend (account and region)."""
    return attached(cloudwatch, "traffic", TrafficState)


def store_of(cloudwatch: Any) -> MetricStore:
    return state_of(cloudwatch).store


def step(autoscaling: Any, now: datetime) -> None:
    """Generate the traffic from the last call up to ``now`` (one simulation step)."""
    cloudwatch = cloudwatch_backends[autoscaling.account_id][autoscaling.region_name]
    state = state_of(cloudwatch)
    if state.last is None:
        state.last = now
        state.store.visible_until = minute_of(now)
        return
    context = runtime.current()
    while state.last < now:
        start = state.last
        boundary = _next_minute(start)
        end = min(now, boundary)
        with context.at(start):
            _serve_piece(autoscaling.elbv2_backend, state, start, end)
        state.last = end
        if end == boundary:
            _publish_minute(state, end)
            with context.at(end):
                alarm_evaluation.evaluate(cloudwatch, state.store, end)


def _serve_piece(elbv2: Any, state: TrafficState, start: datetime, end: datetime) -> None:
    context = runtime.current()
    settings = context.traffic
    seconds = (end - start).total_seconds()
    first = minute_of(start) == int(start.timestamp())
    for balancer in list(elbv2.load_balancers.values()):
        if getattr(balancer, "type", "application") != "application":
            continue
        name = serving.balancer_dimension(balancer.arn)
        if first:
            _note_hosts(elbv2, state, balancer, name, start)
        requests = sampling.poisson(settings.random, settings.rate * seconds)
        if requests == 0:
            continue
        state.busy_balancers.add(name)
        record = serving.Recorder(state.store, start, name, settings.served)
        serving.serve_balancer(
            settings.random, elbv2, balancer, requests, record, context.behaviours
        )


def _note_hosts(elbv2: Any, state: TrafficState, balancer: Any, name: str, now: datetime) -> None:
    for arn, _ in serving.forwards(balancer):
        target_group = elbv2.target_groups.get(arn)
        if target_group is not None:
            group = serving.target_group_dimension(arn)
            state.hosts[(name, group)] = serving.host_counts(elbv2, target_group, now)


def _publish_minute(state: TrafficState, end: datetime) -> None:
    """Make the minute ending at ``end`` visible, with its host counts."""
    minute = end - timedelta(seconds=MINUTE)
    for (balancer, group), (healthy, unhealthy) in state.hosts.items():
        if balancer not in state.busy_balancers:
            continue
        dimensions = {"LoadBalancer": balancer, "TargetGroup": group}
        state.store.bucket(key("HealthyHostCount", dimensions), minute).add_values([healthy])
        state.store.bucket(key("UnHealthyHostCount", dimensions), minute).add_values([unhealthy])
    state.hosts.clear()
    state.busy_balancers.clear()
    state.store.visible_until = minute_of(end)


def _next_minute(moment: datetime) -> datetime:
    return datetime.fromtimestamp(minute_of(moment) + MINUTE, UTC)
