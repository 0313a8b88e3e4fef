"""What the rollout analysis reads, for each service whose newest instance refresh is active.

Nothing about an analysis is remembered between ticks: every tick reads again what AWS and
CloudWatch hold, so a restarted daemon reaches the verdict it would have reached. Per region and
tick, only while a refresh runs:

- ``DescribeScalingActivities`` per group, newest first, back to the refresh's start: which
  instances the rollout launched, when each went InService (the launch activity's end), and
  which Auto Scaling took out of service for failing a health check (its ``Cause``; AWS gives
  no structured reason, so the wording is matched, see ``_HEALTH_CAUSES``);
- ``DescribeTargetHealth`` per target group: the load balancer's view of each instance;
- one ``GetMetricData`` for every such service of the region (``metrics``);
- ``DescribeAlarms`` for the alarms the services name, 100 names a call.

A rollout that went past a checkpoint is a chain of refreshes (``diff.checkpoint``): its window
starts at the chain's first refresh (the group's checkpoint tag names it), so the baseline stays
the one before the rollout and every instance the chain launched counts as new.

A source that cannot be read (throttled, denied, unreachable) becomes the input's ``*_error``:
its signal is inconclusive, and the tick goes on.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler import errors
from reconciler.aws import Aws
from reconciler.model import (
    AnalysisInputs,
    InstanceHistory,
    MetricPoint,
    ObservedRefresh,
    ObservedService,
    ServiceSpec,
)
from reconciler.pipeline.analysis import baseline_range, metric_range
from reconciler.pipeline.diff.checkpoint import rollout_start
from reconciler.pipeline.diff.versions import refresh_version
from reconciler.pipeline.observe.batches import chunks
from reconciler.pipeline.observe.metrics import MetricRequest, read_metrics
from reconciler.pipeline.observe.shapes import epoch as _epoch

_ALARMS_PER_CALL = 100
# A rollout's launches and terminations, with room for healing and scaling beside them.
_ACTIVITIES_READ = 500
_INSTANCE_ID = re.compile(r"\bi-[0-9a-f]+\b")
# ``Cause`` wording of a health-check termination: "…was taken out of service in response to an
# ELB system health check failure" / "…an EC2 instance status checks failure" / "…a user health
# check" (UG health checks); matched loosely, since AWS documents no catalogue.
_HEALTH_CAUSES = ("health check failure", "status checks failure", "user health-check")


def observe_analysis(
    aws: Aws, region: str, services: Sequence[tuple[ServiceSpec, ObservedService]]
) -> dict[str, AnalysisInputs]:
    """The analysis inputs of every service in ``services`` that has a refresh under way."""
    now = aws.server_time()
    frames = [f for spec, seen in services if (f := _frame(spec, seen, now)) is not None]
    if not frames:
        return {}
    points, metrics_error = _metrics(aws, region, frames, now)
    alarms, alarms_error = _alarms(aws, region, frames)
    found = {}
    for frame in frames:
        instances, activities_error = _instances(aws, region, frame)
        split = _split(frame, points.get(frame.name, ()))
        found[frame.name] = dataclasses.replace(
            frame.inputs,
            points=split[1],
            baseline=split[0],
            metrics_error=metrics_error,
            instances=instances,
            activities_error=activities_error,
            alarms={n: alarms[n] for n in frame.spec.rollout.alarms if n in alarms},
            alarms_error=alarms_error,
        )
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class _Frame:
    name: str
    spec: ServiceSpec
    seen: ObservedService
    refresh: ObservedRefresh
    inputs: AnalysisInputs  # the times and settings; the readings are added to it


def _frame(spec: ServiceSpec, seen: ObservedService, now: float) -> _Frame | None:
    group, target = seen.auto_scaling_group, seen.target_group
    refresh = seen.refreshes[0] if seen.refreshes else None
    if not spec.rollout.analysis.enabled or group is None or target is None:
        return None
    if refresh is None or not refresh.status.active or not refresh.start_time:
        return None
    template = seen.launch_template
    number = refresh_version(refresh, group=group, template=template) if template else None
    version = str(number) if number is not None else refresh.desired_version
    start = rollout_start(seen.refreshes, group.tags)
    inputs = AnalysisInputs(
        observed_at=now,
        rollout_start=start if start is not None else _epoch(refresh.start_time),
        rollout_end=_epoch(refresh.rollback.start_time) if refresh.rollback else None,
        desired_version=version,
        grace_period=group.health_check_grace_period,
        health_check_interval=target.health_check.interval_seconds,
        healthy_threshold=target.health_check.healthy_threshold,
    )
    return _Frame(spec.name, spec, seen, refresh, inputs)


# -- metrics ---------------------------------------------------------------------------------


def _metrics(
    aws: Aws, region: str, frames: Sequence[_Frame], now: float
) -> tuple[dict[str, tuple[MetricPoint, ...]], str]:
    requests = [_metric_request(frame, now) for frame in frames]
    try:
        return read_metrics(aws, region, requests), ""
    except errors.ReconcilerError as exc:
        return {}, f"CloudWatch GetMetricData: {exc}"


def _metric_request(frame: _Frame, now: float) -> MetricRequest:
    spec = frame.spec.rollout.analysis
    start = frame.inputs.rollout_start
    until = min(now, frame.inputs.rollout_end or now)
    target = frame.seen.target_group
    assert target is not None
    return MetricRequest(
        key=frame.name,
        target_group_arn=target.arn,
        load_balancer_arns=target.load_balancer_arns,
        period=spec.interval,
        start=baseline_range(spec, rollout_start=start)[0],
        end=metric_range(spec, rollout_start=start, until=until)[1],
    )


def _split(
    frame: _Frame, points: Sequence[MetricPoint]
) -> tuple[tuple[MetricPoint, ...], tuple[MetricPoint, ...]]:
    """(baseline, samples): the periods of the baseline window, and those of the rollout."""
    spec = frame.spec.rollout.analysis
    baseline_end = baseline_range(spec, rollout_start=frame.inputs.rollout_start)[1]
    before = tuple(p for p in points if p.start + spec.interval <= baseline_end)
    after = tuple(p for p in points if p.start + spec.interval > baseline_end)
    return before, after


# -- alarms ----------------------------------------------------------------------------------


def _alarms(aws: Aws, region: str, frames: Sequence[_Frame]) -> tuple[dict[str, str], str]:
    names = sorted({n for f in frames for n in f.spec.rollout.alarms})
    states: dict[str, str] = {}
    try:
        for chunk in chunks(names, _ALARMS_PER_CALL):
            pages = aws.pages("cloudwatch", "describe_alarms", region=region, AlarmNames=chunk)
            for page in pages:
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    states[str(alarm["AlarmName"])] = str(alarm.get("StateValue", ""))
    except errors.ReconcilerError as exc:
        return states, f"CloudWatch DescribeAlarms: {exc}"
    return states, ""


# -- instances -------------------------------------------------------------------------------


def _instances(aws: Aws, region: str, frame: _Frame) -> tuple[tuple[InstanceHistory, ...], str]:
    group, target = frame.seen.auto_scaling_group, frame.seen.target_group
    assert group is not None and target is not None
    error = ""
    histories: dict[str, InstanceHistory] = {}
    try:
        histories = _from_activities(
            _activities(aws, region, group.name, since=frame.inputs.rollout_start)
        )
    except errors.ReconcilerError as exc:
        error = f"Auto Scaling DescribeScalingActivities: {exc}"
    try:
        health = _target_health(aws, region, target.arn)
    except errors.ReconcilerError as exc:
        health = {}
        error = error or f"ELB DescribeTargetHealth: {exc}"
    for instance in group.instances:
        known = histories.get(instance.instance_id, InstanceHistory(instance.instance_id))
        state, reason = health.get(instance.instance_id, ("", ""))
        if instance.health_status == "Unhealthy":  # Auto Scaling's own verdict, after grace
            state, reason = "unhealthy", reason or "Auto Scaling: Unhealthy"
        histories[instance.instance_id] = dataclasses.replace(
            known,
            version=instance.launch_template_version,
            target_state=state,
            target_reason=reason,
        )
    return tuple(histories.values()), error


def _activities(aws: Aws, region: str, group: str, *, since: float) -> list[Mapping[str, Any]]:
    """The group's activities that started at or after ``since``.

    AWS lists the newest first, but an activity still in progress can sit ahead of newer ones,
    so reading stops at the first page with nothing that recent, not at the first older one.
    """
    found: list[Mapping[str, Any]] = []
    pages = aws.pages(
        "autoscaling",
        "describe_scaling_activities",
        region=region,
        AutoScalingGroupName=group,
        PaginationConfig={"PageSize": 100, "MaxItems": _ACTIVITIES_READ},
    )
    for page in pages:
        recent = [a for a in page.get("Activities", []) if _epoch(a.get("StartTime")) >= since]
        found.extend(recent)
        if not recent:
            break
    return found


def _from_activities(activities: Iterable[Mapping[str, Any]]) -> dict[str, InstanceHistory]:
    histories: dict[str, InstanceHistory] = {}
    for activity in reversed(list(activities)):  # oldest first
        description = str(activity.get("Description", ""))
        match = _INSTANCE_ID.search(description)
        if match is None:
            continue
        known = histories.get(match.group(), InstanceHistory(match.group()))
        histories[known.instance_id] = _with_activity(known, activity, description)
    return histories


def _with_activity(
    known: InstanceHistory, activity: Mapping[str, Any], description: str
) -> InstanceHistory:
    started = _epoch(activity.get("StartTime"))
    ended = activity.get("EndTime")
    done = activity.get("StatusCode") == "Successful" and ended is not None
    if description.startswith("Launching"):
        return dataclasses.replace(
            known, launched_at=started, in_service_at=_epoch(ended) if done else None
        )
    if description.startswith("Terminating"):
        cause = str(activity.get("Cause", "")).lower()
        return dataclasses.replace(
            known,
            terminated_at=started,
            health_terminated=any(c in cause for c in _HEALTH_CAUSES),
        )
    return known


def _target_health(aws: Aws, region: str, arn: str) -> dict[str, tuple[str, str]]:
    raw = aws.call("elbv2", "describe_target_health", region=region, TargetGroupArn=arn)
    return {
        str(d["Target"]["Id"]): (
            str(d.get("TargetHealth", {}).get("State", "")),
            str(d.get("TargetHealth", {}).get("Reason", "")),
        )
        for d in raw.get("TargetHealthDescriptions", [])
    }
