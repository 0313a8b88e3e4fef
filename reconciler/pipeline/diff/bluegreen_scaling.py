"""``spec.scaling`` on a blue/green pair: the same target tracking policy on both groups, enabled
only on the side that owns capacity. Pure: no I/O.

The decision sizes one side after the other (the target follows the old side's capacity while
traffic shifts; the old side follows the target while it waits out ``scaleDownDelay``), so two
enabled policies would fight it. The side that owns capacity is the target once it takes all
traffic, and the other side until then (a failed or reverted rollout never gets there). While
traffic is split, the owner's policy keeps scaling out but never in
(``DisableScaleIn``): the owner's load falls as its share moves to the target, and a scale-in
there would shrink the target with it, under the load it just took on. A disabled policy is
kept, not deleted (AWS: ``PutScalingPolicy`` ``Enabled`` false), so a flip back only has to
enable it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.model import (
    POLICY_METRIC,
    POLICY_TYPE,
    BlueGreenDecision,
    Change,
    ChangeKind,
    Color,
    DesiredService,
    ObservedScalingPolicy,
    ObservedService,
    Resource,
    SetWeights,
    Value,
    scaling_policy_name,
)
from reconciler.pipeline.diff.bluegreen_view import Sides

__all__ = [
    "WantedPolicy",
    "blue_green_scaling_changes",
    "side_changes",
    "side_policy",
    "wanted_for",
    "wanted_policies",
]


@dataclass(frozen=True, slots=True)
class WantedPolicy:
    target_value: float
    enabled: bool
    disable_scale_in: bool


def wanted_policies(
    target_cpu: float | None, *, target: Color, share: int
) -> dict[Color, WantedPolicy | None]:
    """Each side's policy when the target (``target``) has ``share`` percent of the traffic
    once the decision's moves are done; None on both where ``spec.scaling`` declares none."""
    if target_cpu is None:
        return dict.fromkeys(Color)
    owner = target if share == 100 else target.other
    split = 0 < share < 100
    return {
        color: WantedPolicy(float(target_cpu), enabled=color is owner, disable_scale_in=split)
        for color in Color
    }


def wanted_for(
    desired: DesiredService, sides: Sides, decision: BlueGreenDecision
) -> dict[Color, WantedPolicy | None]:
    scaling = desired.spec.scaling
    cpu = None if scaling is None else float(scaling.target_cpu_utilization)
    return wanted_policies(cpu, target=decision.target, share=target_share(sides, decision))


def target_share(sides: Sides, decision: BlueGreenDecision) -> int:
    """The target's percent of the traffic after the decision's weight writes, if any."""
    written = [m for m in decision.moves if isinstance(m, SetWeights)]
    if written:
        last = written[-1]
        return last.blue if decision.target is Color.BLUE else last.green
    forward = sides.seen.forward
    if forward is None:
        return 0
    total = sum(forward.weights.values())
    arn = sides.target(decision.target).arn
    return round(100 * forward.weights.get(arn, 0) / total) if total else 0


def side_policy(
    desired: DesiredService, observed: ObservedService, color: Color
) -> ObservedScalingPolicy | None:
    """The reconciler's policy on one side's group, as AWS holds it."""
    seen = observed.blue_green
    found = (
        observed.scaling_policies
        if color is Color.BLUE
        else (seen.green_scaling_policies if seen is not None else ())
    )
    name = scaling_policy_name(desired.name)
    return next((p for p in found if p.name == name), None)


def blue_green_scaling_changes(
    desired: DesiredService,
    observed: ObservedService,
    sides: Sides,
    decision: BlueGreenDecision,
) -> tuple[Change, ...]:
    """What differs on each side's policy; the resource name is the side's group."""
    changes: list[Change] = []
    for color, want in wanted_for(desired, sides, decision).items():
        group = sides.group(color).name
        changes += side_changes(group, side_policy(desired, observed, color), want)
    return tuple(changes)


def side_changes(
    group: str, have: ObservedScalingPolicy | None, want: WantedPolicy | None
) -> list[Change]:
    """What differs between one side's policy as AWS holds it and as wanted."""
    if have is None:
        return [] if want is None else [_change(group, None, want.target_value, ChangeKind.CREATE)]
    if want is None:
        return [_change(group, have.target_value, None, ChangeKind.DELETE)]
    changes: list[Change] = []
    if have.policy_type != POLICY_TYPE or have.metric != POLICY_METRIC:
        old = f"{have.policy_type} {have.metric or '-'} {have.target_value}"
        changes.append(_change(group, old, want.target_value))
    elif have.target_value is None or float(have.target_value) != want.target_value:
        changes.append(_change(group, have.target_value, want.target_value))
    if have.enabled != want.enabled:
        changes.append(_change(group, have.enabled, want.enabled, field="scaling.enabled"))
    if have.disable_scale_in != want.disable_scale_in:
        field = "scaling.disableScaleIn"
        changes.append(_change(group, have.disable_scale_in, want.disable_scale_in, field=field))
    return changes


def _change(
    group: str,
    old: Value,
    new: Value,
    kind: ChangeKind = ChangeKind.UPDATE,
    *,
    field: str = "targetCpuUtilization",
) -> Change:
    return Change(Resource.SCALING_POLICY, group, field, old, new, kind)
