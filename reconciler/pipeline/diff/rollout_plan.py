"""The rollout plan a diff shows for the pull request: what the rollout it would start will do
and where a failure goes back to. Pure: no I/O.

Read from the desired spec (the image's resolved digest, the refresh preferences or the traffic
steps, the checks, from ``diff.gates``) and from what AWS holds now (the version the group or
the live side runs, its image, the group's size), so the comment says what this pull request
changes on the fleet as it stands.

How long a rollback takes is an estimate from the spec: RollbackInstanceRefresh replaces the
instances replaced so far (at most the whole group), ``batch`` at a time, and AWS counts each
once it passes its health checks (the healthy threshold times the interval, under ELB health
checks) and warms up (``instanceWarmup``; without it the group's grace period, which AWS uses
when the group has no default warmup either). Boot time comes on top: the spec does not say it.
A blue/green rollback is one listener write.
"""

from __future__ import annotations

import math

from reconciler.images import scripts
from reconciler.model import (
    BlueGreenPlan,
    Checkpoint,
    Color,
    DesiredService,
    ImageMove,
    ImageSpec,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    RollbackMethod,
    RollbackPlan,
    RollingPlan,
    RolloutPlan,
    RolloutSpec,
    ServiceSpec,
    Strategy,
    TrafficStep,
)
from reconciler.pipeline.bluegreen.describe import UNGATED
from reconciler.pipeline.diff.checkpoint import gated, least_hold
from reconciler.pipeline.diff.gates import checks
from reconciler.pipeline.diff.versions import current_version


def no_rollout(strategy: Strategy) -> RolloutPlan:
    """Only settings change: API calls, no instance replaced."""
    return RolloutPlan(strategy)


def rolling_plan(
    desired: DesiredService, *, group: ObservedAutoScalingGroup, template: ObservedLaunchTemplate
) -> RolloutPlan:
    """The instance refresh ``desired`` would start on ``group``, back to what it runs now."""
    spec, rollout = desired.spec, desired.spec.rollout
    number = current_version(group, template)
    running = _image(template, number)
    size = group.desired_capacity
    batch = replaced_at_a_time(size, rollout.min_healthy_percentage, rollout.max_healthy_percentage)
    rolling = RollingPlan(
        min_healthy_percentage=rollout.min_healthy_percentage,
        max_healthy_percentage=rollout.max_healthy_percentage,
        instance_warmup=rollout.instance_warmup,
        checkpoints=checkpoints(rollout),
        bake_time=rollout.bake_time,
        auto_rollback=rollout.auto_rollback,
        instances=size,
        batch=batch,
        skip_matching=rollout.skip_matching,
        scale_in_protected_instances=rollout.scale_in_protected_instances,
        standby_instances=rollout.standby_instances,
    )
    method = (
        RollbackMethod.ROLLBACK_REFRESH if rollout.auto_rollback else RollbackMethod.CANCEL_REFRESH
    )
    seconds = math.ceil(size / batch) * instance_seconds(spec) if size else 0
    return RolloutPlan(
        Strategy.ROLLING,
        ImageMove(desired.image, running),
        checks(spec),
        rolling=rolling,
        rollback=RollbackPlan(method, number, running, seconds),
    )


def blue_green_plan(
    desired: DesiredService,
    *,
    live: Color,
    live_group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    steps: tuple[int, ...],
) -> RolloutPlan:
    """The steps onto the idle side, with ``live`` (running ``live_group``) the way back."""
    spec = desired.spec
    blue_green = spec.blue_green
    assert blue_green is not None
    number = current_version(live_group, template)
    running = _image(template, number)
    plan = BlueGreenPlan(
        live=live,
        target=live.other,
        listener=blue_green.listener.describe(),
        steps=tuple(
            TrafficStep(p, blue_green.step_pause if p < 100 else blue_green.scale_down_delay)
            for p in steps
        ),
        scale_down_delay=blue_green.scale_down_delay,
        warm_standby=blue_green.warm_standby,
    )
    return RolloutPlan(
        Strategy.BLUE_GREEN,
        ImageMove(desired.image, running),
        checks(spec) if spec.rollout.analysis.enabled else (UNGATED,),
        blue_green=plan,
        rollback=RollbackPlan(RollbackMethod.LISTENER_FLIP, number, running, 0, side=live),
    )


def checkpoints(rollout: RolloutSpec) -> tuple[Checkpoint, ...]:
    """Gated: held by AWS for the reconciler at each below 100 (at 100 AWS holds at none).
    Otherwise AWS pauses the declared delay at each, then goes on by itself."""
    hold = least_hold(rollout)
    if gated(rollout):
        return tuple(Checkpoint(p, hold, True) for p in rollout.checkpoint_percentages if p < 100)
    return tuple(Checkpoint(p, hold, False) for p in rollout.checkpoint_percentages)


def replaced_at_a_time(size: int, min_healthy: int, max_healthy: int | None) -> int:
    """How many instances a refresh replaces at once: the room between the healthy percentages
    (100 above when no maximum is declared: terminate before launching), at least one."""
    above = max_healthy if max_healthy is not None else 100
    room = math.floor(size * above / 100) - math.ceil(size * min_healthy / 100)
    return max(room, 1)


def instance_seconds(spec: ServiceSpec) -> int:
    """About how long one replacement takes, boot aside: health checks, then warmup."""
    warmup = spec.rollout.instance_warmup
    if warmup is None:
        warmup = spec.auto_scaling_group.health_check_grace_period
    check = spec.target_group.health_check
    healthy = check.healthy_threshold * check.interval_seconds
    return warmup + (healthy if spec.auto_scaling_group.health_check_type == "ELB" else 0)


def _image(template: ObservedLaunchTemplate, number: int | None) -> ImageSpec | None:
    version = template.version(number) if number is not None else None
    found = scripts.version_image(version) if version is not None else None
    return ImageSpec(found.repository, found.tag, found.digest) if found else None
