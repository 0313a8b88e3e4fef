"""What a blue/green service holds in AWS beyond the blue side: the forward's weights, the green
group and target group (read in the region's batches with the blue ones), each side's targets,
and, while a side is being stepped onto the desired revision, its analysis inputs.

Read again every tick, nothing remembered: the weights, the tags on each group and AWS's clock
are the decision's whole memory (``model.traffic``). Per blue/green service and tick: the
forward (DescribeLoadBalancers, DescribeListeners, and DescribeRules for a rule), and
DescribeTargetHealth for each side. While a side is being stepped, its analysis adds the
group's activities and one GetMetricData for both target groups.

The canary's baseline is the other side's target group over the same minutes, not the time
before the rollout: the new side had no traffic before, and the other side carries the same
requests at the same moment, so a change in the traffic itself moves both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from reconciler import errors
from reconciler.aws import Aws
from reconciler.model import (
    TAG_BG_VERIFIED,
    AnalysisInputs,
    InstanceHistory,
    MetricPoint,
    ObservedAutoScalingGroup,
    ObservedBlueGreen,
    ObservedForward,
    ObservedTargetGroup,
    ServiceSpec,
    TargetState,
)
from reconciler.pipeline.analysis import metric_range
from reconciler.pipeline.bluegreen.marks import marks_of
from reconciler.pipeline.diff.failure import group_marker
from reconciler.pipeline.observe.analysis import alarm_states
from reconciler.pipeline.observe.forwards import observe_forward
from reconciler.pipeline.observe.history import instance_histories
from reconciler.pipeline.observe.metrics import MetricRequest, read_metrics


def observe_blue_green(
    aws: Aws,
    spec: ServiceSpec,
    *,
    blue: tuple[ObservedAutoScalingGroup | None, ObservedTargetGroup | None],
    green: tuple[ObservedAutoScalingGroup | None, ObservedTargetGroup | None],
    fingerprint: str | None,
) -> ObservedBlueGreen:
    """The forward, the green side and the targets of ``spec``; ``fingerprint`` (the desired
    content's) says which side a rollout is under way on."""
    assert spec.blue_green is not None
    region = spec.region
    forward = observe_forward(aws, region, spec.blue_green.listener)
    observed = ObservedBlueGreen(
        forward=forward,
        green_group=green[0],
        green_target_group=green[1],
        blue_targets=_targets(aws, region, blue[1]),
        green_targets=_targets(aws, region, green[1]),
        observed_at=aws.server_time(),
    )
    canary = _canary(blue, green, forward, fingerprint)
    if canary is None or not spec.rollout.analysis.enabled:
        return observed
    inputs = _analysis(aws, spec, canary, observed.observed_at)
    return ObservedBlueGreen(
        forward=observed.forward,
        green_group=observed.green_group,
        green_target_group=observed.green_target_group,
        blue_targets=observed.blue_targets,
        green_targets=observed.green_targets,
        observed_at=observed.observed_at,
        analysis=inputs,
    )


def _targets(aws: Aws, region: str, target: ObservedTargetGroup | None) -> tuple[TargetState, ...]:
    if target is None:
        return ()
    raw = aws.call("elbv2", "describe_target_health", region=region, TargetGroupArn=target.arn)
    return tuple(
        TargetState(str(d["Target"]["Id"]), str(d.get("TargetHealth", {}).get("State", "")))
        for d in raw.get("TargetHealthDescriptions", [])
    )


# -- the canary ------------------------------------------------------------------------------


class _Canary:
    """The side being stepped onto the desired revision, and the other side's target group."""

    def __init__(
        self,
        group: ObservedAutoScalingGroup,
        target: ObservedTargetGroup,
        other: ObservedTargetGroup | None,
        started: float,
    ) -> None:
        self.group, self.target, self.other, self.started = group, target, other, started


def rollout_start(group: ObservedAutoScalingGroup, fingerprint: str) -> float | None:
    """When the group was pinned for a rollout of ``fingerprint`` (its TAG_BG_ROLLOUT)."""
    marks = marks_of(group.tags, None)
    return marks.rollout_at if marks.rollout_fingerprint == fingerprint else None


def _canary(
    blue: tuple[ObservedAutoScalingGroup | None, ObservedTargetGroup | None],
    green: tuple[ObservedAutoScalingGroup | None, ObservedTargetGroup | None],
    forward: ObservedForward | None,
    fingerprint: str | None,
) -> _Canary | None:
    if fingerprint is None or forward is None:
        return None
    for (group, target), (_, other) in ((blue, green), (green, blue)):
        if group is None or target is None or group.tags.get(TAG_BG_VERIFIED) == fingerprint:
            continue
        marker = group_marker(group)
        if marker is not None and marker.fingerprint == fingerprint:
            continue  # failed there: nothing left to judge until a retry starts it again
        started = rollout_start(group, fingerprint)
        total = sum(forward.weights.values())
        if started is not None and forward.weights.get(target.arn, 0) < total:
            return _Canary(group, target, other, started)
    return None


def _analysis(aws: Aws, spec: ServiceSpec, canary: _Canary, now: float) -> AnalysisInputs:
    analysis = spec.rollout.analysis
    region = spec.region
    instances, activities_error = instance_histories(
        aws, region, canary.group, target_group_arn=canary.target.arn, since=canary.started
    )
    instances = _side_members(canary, instances)
    start, end = metric_range(analysis, rollout_start=canary.started, until=now)
    points, baseline, metrics_error = _metrics(aws, spec, canary, start=start, end=end)
    alarms, alarms_error = alarm_states(aws, region, spec.rollout.alarms)
    return AnalysisInputs(
        observed_at=now,
        rollout_start=canary.started,
        desired_version=canary.group.launch_template_version,
        grace_period=canary.group.health_check_grace_period,
        health_check_interval=canary.target.health_check.interval_seconds,
        healthy_threshold=canary.target.health_check.healthy_threshold,
        points=points,
        baseline=baseline,
        metrics_error=metrics_error,
        instances=instances,
        activities_error=activities_error,
        alarms=alarms,
        alarms_error=alarms_error,
    )


def _side_members(
    canary: _Canary, instances: Sequence[InstanceHistory]
) -> tuple[InstanceHistory, ...]:
    """Every InService instance of the canary side is the rollout's subject, also one that
    went in service before the rollout was recorded (a retried rollout keeps its instances):
    with no launch in the window, it counts as in service from the rollout's start."""
    serving = {
        i.instance_id
        for i in canary.group.instances
        if i.lifecycle_state == "InService"
        and i.launch_template_version == canary.group.launch_template_version
    }
    return tuple(
        dataclasses.replace(i, in_service_at=canary.started)
        if i.instance_id in serving and i.in_service_at is None and i.launched_at is None
        else i
        for i in instances
    )


def _metrics(
    aws: Aws, spec: ServiceSpec, canary: _Canary, *, start: float, end: float
) -> tuple[tuple[MetricPoint, ...], tuple[MetricPoint, ...], str]:
    """(the canary's points, the other side's over the same minutes, the error)."""
    period = spec.rollout.analysis.interval
    requests: list[MetricRequest] = [
        MetricRequest(
            "canary", canary.target.arn, canary.target.load_balancer_arns, period, start, end
        )
    ]
    if canary.other is not None:
        other = canary.other
        requests.append(
            MetricRequest("other", other.arn, other.load_balancer_arns, period, start, end)
        )
    try:
        found = read_metrics(aws, spec.region, requests)
    except errors.ReconcilerError as exc:
        return (), (), f"CloudWatch GetMetricData: {exc}"
    return found.get("canary", ()), _with_traffic(found.get("other", ())), ""


def _with_traffic(points: Sequence[MetricPoint]) -> tuple[MetricPoint, ...]:
    return tuple(p for p in points if p.requests)
