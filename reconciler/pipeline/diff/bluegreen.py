"""The diff of a blue/green service: both sides' resources are there and ours, the forward routes
to exactly their two target groups, the settings both sides share, and the decision over the
view of each side (``pipeline.bluegreen.decide``). Pure: no I/O.

What AWS must hold before anything is written, each a BLOCKED diff naming it (Stalled): the
green group and target group, the listener (or rule) desired.yaml names, a forward action whose
target groups are exactly the two sides', both groups on the service's launch template, and
each group attached to its own target group, so the reconciler never steers traffic to, or
scales, something another team runs.
"""

from __future__ import annotations

from reconciler.model import (
    BlueGreenDecision,
    BlueGreenState,
    Change,
    DesiredService,
    Diff,
    ObservedService,
    Phase,
    Resource,
    RolloutPlan,
    Stage,
    fields,
)
from reconciler.pipeline.bluegreen import decide, describe_plan
from reconciler.pipeline.bluegreen.sides import traffic_steps
from reconciler.pipeline.diff.bluegreen_moves import move_changes
from reconciler.pipeline.diff.bluegreen_scaling import blue_green_scaling_changes
from reconciler.pipeline.diff.bluegreen_view import Sides, state_of
from reconciler.pipeline.diff.ownership import (
    missing_message,
    ownership_conflict,
    tag_changes,
    tagged,
)
from reconciler.pipeline.diff.rollout_plan import blue_green_plan, no_rollout
from reconciler.pipeline.diff.settings import group_changes, target_group_changes
from reconciler.pipeline.diff.versions import uses_template

# The group settings both sides share; capacity is the decision's (live side, idle side).
_SHARED_GROUP_FIELDS = frozenset(
    f.yaml for f in fields.GROUP if f.yaml in ("healthCheckType", "healthCheckGracePeriod")
)


def diff_blue_green(desired: DesiredService, observed: ObservedService, *, owner: str) -> Diff:
    """Compare a blue/green service's desired state with what AWS holds."""
    sides, why = _sides(desired, observed)
    if sides is None:
        return Diff(desired.name, (), Phase.BLOCKED, why)
    conflict = _ownership(desired, sides, owner=owner)
    if conflict:
        return Diff(desired.name, (), Phase.BLOCKED, conflict)
    settings = _settings(desired, sides, owner=owner)
    state = state_of(desired, sides)
    decision = decide(state)
    scaling = blue_green_scaling_changes(desired, observed, sides, decision)
    changes = (*settings, *scaling, *move_changes(desired, sides, decision))
    if desired.spec.paused:
        return Diff(desired.name, changes, Phase.BLOCKED, "paused", blue_green=decision)
    phase = decision.phase
    if phase is Phase.IN_SYNC and changes:
        phase = Phase.OUT_OF_SYNC
    spec = desired.spec.blue_green
    assert spec is not None
    # A deploy starts by preparing the idle side; other OutOfSync moves put drift back.
    starts = decision.phase is Phase.OUT_OF_SYNC and decision.stage is Stage.PREPARING
    gates = (
        describe_plan(
            spec.traffic_steps,
            spec.step_pause,
            scale_down_delay=spec.scale_down_delay,
            warm_standby=spec.warm_standby,
            live=decision.target.other,
            analysis=desired.spec.rollout.analysis.enabled,
        )
        if starts
        else ()
    )
    return Diff(
        desired.name,
        changes,
        phase,
        decision.message,
        analysis=state.analysis,
        gates=gates,
        blue_green=decision,
        rollout_plan=_rollout_plan(desired, sides, decision, state, starts=starts, phase=phase),
    )


def _rollout_plan(
    desired: DesiredService,
    sides: Sides,
    decision: BlueGreenDecision,
    state: BlueGreenState,
    *,
    starts: bool,
    phase: Phase,
) -> RolloutPlan | None:
    """A deploy to start: its steps, back to the live side; settings alone: no rollout."""
    if starts:
        live = decision.target.other
        return blue_green_plan(
            desired,
            live=live,
            live_group=sides.group(live),
            template=sides.template,
            steps=traffic_steps(state),
        )
    return no_rollout(desired.spec.strategy) if phase is Phase.OUT_OF_SYNC else None


def _sides(desired: DesiredService, observed: ObservedService) -> tuple[Sides | None, str]:
    group, template, target = (
        observed.auto_scaling_group,
        observed.launch_template,
        observed.target_group,
    )
    if group is None or template is None or target is None:
        return None, missing_message(desired, observed)
    seen = observed.blue_green
    assert seen is not None and desired.spec.blue_green is not None
    green, green_target = seen.green_group, seen.green_target_group
    side = desired.spec.blue_green.green
    if green is None:
        message = f"auto scaling group {side.auto_scaling_group} not found; create it first"
        return None, located(desired, _GROUP_FIELDS[1], message)
    if green_target is None:
        message = f"target group {side.target_group} not found; create it first"
        return None, located(desired, _TARGET_FIELDS[1], message)
    sides = Sides(group, target, green, green_target, template, seen)
    return (sides, "") if not (why := _routing_problem(desired, sides)) else (None, why)


_LISTENER = "spec.blueGreen.listener"
_GROUP_FIELDS = ("spec.autoScalingGroup.name", "spec.blueGreen.green.autoScalingGroup")
_TARGET_FIELDS = ("spec.targetGroup.name", "spec.blueGreen.green.targetGroup")


def _routing_problem(desired: DesiredService, sides: Sides) -> str:
    """What AWS holds that the desired file cannot work with, located at the field naming it."""
    found = _listener_problem(desired, sides) or _side_problem(sides)
    return located(desired, *found) if found else ""


def located(desired: DesiredService, field: str, message: str) -> str:
    """``file:line: field: message``, as a schema error reads."""
    spec = desired.spec
    line = spec.blue_green.line_of(field, spec.source.line) if spec.blue_green else spec.source.line
    return f"{spec.source.file}:{line}: {field}: {message}"


def _listener_problem(desired: DesiredService, sides: Sides) -> tuple[str, str] | None:
    spec = desired.spec.blue_green
    assert spec is not None
    listener = spec.listener.describe()
    forward = sides.seen.forward
    if forward is None:
        return _LISTENER, f"listener {listener} not found (load balancer, port or rule priority)"
    if forward.action_type != "forward":
        return (
            _LISTENER,
            f"listener {listener} does not forward: its action is {forward.action_type!r}",
        )
    ours = {sides.blue_target.arn, sides.green_target.arn}
    if set(forward.weights) - ours:
        others = ", ".join(sorted(set(forward.weights) - ours))
        return _LISTENER, f"listener {listener} also forwards to other target groups ({others})"
    for field, target in zip(_TARGET_FIELDS, (sides.blue_target, sides.green_target), strict=True):
        if target.arn not in forward.weights:
            return (
                field,
                f"target group {target.name} is not in listener {listener}'s forward action",
            )
    return None


def _side_problem(sides: Sides) -> tuple[str, str] | None:
    pairs = ((sides.blue, sides.blue_target), (sides.green, sides.green_target))
    for field, (group, target) in zip(_GROUP_FIELDS, pairs, strict=True):
        if target.arn not in group.target_group_arns:
            return (
                field,
                f"auto scaling group {group.name} is not attached to target group {target.name}",
            )
        if not uses_template(group, sides.template):
            name = sides.template.name
            return field, f"auto scaling group {group.name} does not use launch template {name}"
    return None


def _ownership(desired: DesiredService, sides: Sides, *, owner: str) -> str:
    blue = tagged(sides.blue, sides.template, sides.blue_target)
    green = tagged(sides.green, sides.template, sides.green_target)
    return ownership_conflict(desired, blue, owner=owner) or ownership_conflict(
        desired, green, owner=owner
    )


def _settings(desired: DesiredService, sides: Sides, *, owner: str) -> tuple[Change, ...]:
    blue = tagged(sides.blue, sides.template, sides.blue_target)
    green = dict(tagged(sides.green, sides.template, sides.green_target))
    green.pop(Resource.LAUNCH_TEMPLATE)  # one template, adopted with the blue side
    found: list[Change] = [*tag_changes(desired, blue, owner=owner)]
    found += tag_changes(desired, green, owner=owner)
    for group, target in ((sides.blue, sides.blue_target), (sides.green, sides.green_target)):
        found += target_group_changes(desired, target)
        found += [c for c in group_changes(desired, group) if c.field in _SHARED_GROUP_FIELDS]
    return tuple(found)
