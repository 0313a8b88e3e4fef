"""What the rollout analysis reads, for each service whose newest instance refresh is active.

Nothing about an analysis is remembered between ticks: every tick reads again what AWS and
CloudWatch hold, so a restarted daemon reaches the verdict it would have reached. Per region and
tick, only while a refresh runs:

- ``DescribeScalingActivities`` per group back to the refresh's start, and
  ``DescribeTargetHealth`` per target group: the rollout's instances (``history``);
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
from collections.abc import Iterable, Sequence

from reconciler import errors
from reconciler.aws import Aws
from reconciler.model import (
    AnalysisInputs,
    MetricPoint,
    ObservedRefresh,
    ObservedService,
    ServiceSpec,
)
from reconciler.pipeline.analysis import baseline_range, metric_range
from reconciler.pipeline.diff.checkpoint import rollout_start
from reconciler.pipeline.diff.versions import refresh_version
from reconciler.pipeline.observe.batches import chunks
from reconciler.pipeline.observe.history import instance_histories
from reconciler.pipeline.observe.metrics import MetricRequest, read_metrics
from reconciler.pipeline.observe.shapes import epoch as _epoch

_ALARMS_PER_CALL = 100


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
        group, target = frame.seen.auto_scaling_group, frame.seen.target_group
        assert group is not None and target is not None
        instances, activities_error = instance_histories(
            aws, region, group, target_group_arn=target.arn, since=frame.inputs.rollout_start
        )
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
    return alarm_states(aws, region, {n for f in frames for n in f.spec.rollout.alarms})


def alarm_states(aws: Aws, region: str, names: Iterable[str]) -> tuple[dict[str, str], str]:
    """Each named alarm's StateValue, 100 names a call, and the error that stopped reading."""
    states: dict[str, str] = {}
    try:
        for chunk in chunks(sorted(set(names)), _ALARMS_PER_CALL):
            pages = aws.pages("cloudwatch", "describe_alarms", region=region, AlarmNames=chunk)
            for page in pages:
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    states[str(alarm["AlarmName"])] = str(alarm.get("StateValue", ""))
    except errors.ReconcilerError as exc:
        return states, f"CloudWatch DescribeAlarms: {exc}"
    return states, ""
