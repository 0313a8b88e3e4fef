"""What the blue/green decision reads, built from what AWS holds: each side as a ``SideView``
and the whole as a ``BlueGreenState``, with the canary's analysis judged. Pure: no I/O.

A side's version is the one its group launches (a floating ``$Default`` or ``$Latest`` resolved,
as the rolling diff does); an instance counts for the side when it is InService on that version,
and as healthy when its target in the side's target group is ``healthy`` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.model import (
    BlueGreenState,
    Color,
    DesiredService,
    ObservedAutoScalingGroup,
    ObservedBlueGreen,
    ObservedInstance,
    ObservedLaunchTemplate,
    ObservedTargetGroup,
    SideView,
    TargetState,
)
from reconciler.pipeline.analysis import judge
from reconciler.pipeline.bluegreen.marks import marks_of
from reconciler.pipeline.diff.failure import group_marker
from reconciler.pipeline.diff.versions import current_version, desired_version, holds_desired


@dataclass(frozen=True, slots=True)
class Sides:
    """Both sides' resources, all present (the diff checked), and the rest of what AWS holds."""

    blue: ObservedAutoScalingGroup
    blue_target: ObservedTargetGroup
    green: ObservedAutoScalingGroup
    green_target: ObservedTargetGroup
    template: ObservedLaunchTemplate
    seen: ObservedBlueGreen

    def group(self, color: Color) -> ObservedAutoScalingGroup:
        return self.blue if color is Color.BLUE else self.green

    def target(self, color: Color) -> ObservedTargetGroup:
        return self.blue_target if color is Color.BLUE else self.green_target


def state_of(desired: DesiredService, sides: Sides) -> BlueGreenState:
    spec = desired.spec
    blue_green = spec.blue_green
    assert blue_green is not None
    wanted = desired_version(desired, sides.template)
    inputs = sides.seen.analysis
    analysis = (
        judge(spec.rollout.analysis, inputs, alarm_names=spec.rollout.alarms)
        if inputs is not None
        else None
    )
    return BlueGreenState(
        fingerprint=desired.fingerprint,
        desired_version=wanted.version_number if wanted else None,
        blue=side_view(desired, sides, Color.BLUE, sides.seen.blue_targets),
        green=side_view(desired, sides, Color.GREEN, sides.seen.green_targets),
        now=sides.seen.observed_at,
        steps=blue_green.traffic_steps,
        step_pause=blue_green.step_pause,
        scale_down_delay=blue_green.scale_down_delay,
        warm_standby=blue_green.warm_standby,
        min_size=spec.auto_scaling_group.min_size,
        max_size=spec.auto_scaling_group.max_size,
        analysis=analysis,
        judged=spec.rollout.analysis.enabled,
    )


def side_view(
    desired: DesiredService, sides: Sides, color: Color, targets: Sequence[TargetState]
) -> SideView:
    group, target, template = sides.group(color), sides.target(color), sides.template
    version = current_version(group, template)
    observed_version = template.version(version) if version is not None else None
    on_version = {
        i.instance_id
        for i in group.instances
        if i.lifecycle_state == "InService" and _number(template, i) == version
    }
    others = [i for i in group.instances if _number(template, i) != version]
    healthy = {t.instance_id for t in targets if t.state == "healthy"}
    marker = group_marker(group)
    failed = desired.fingerprint if marker is not None and marker.fails(desired) else None
    forward = sides.seen.forward
    return SideView(
        color=color,
        group=group.name,
        target_group_arn=target.arn,
        version=version,
        runs_desired=observed_version is not None and holds_desired(observed_version, desired),
        desired=group.desired_capacity,
        min_size=group.min_size,
        max_size=group.max_size,
        instances=len(on_version),
        other_instances=len(others),
        healthy=len(on_version & healthy),
        weight=forward.weights.get(target.arn, 0) if forward is not None else 0,
        marks=marks_of(group.tags, failed),
    )


def _number(template: ObservedLaunchTemplate, instance: ObservedInstance) -> int | None:
    ref = instance.launch_template_version
    return template.resolve(ref) if ref is not None else None
