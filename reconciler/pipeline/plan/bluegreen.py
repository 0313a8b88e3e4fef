"""The plan of a blue/green service: the settings both sides share (adoption tags, target group
health checks, group health check), then the decision's moves as actions. Pure: no I/O.

Moves become actions ordered by ``ActionKind``: the decision's intent tags first (a step's tag
is written before its weights, so a crash between the two restarts that step's pause rather
than skipping it; a rollout's before its pin), a new launch template version, each side's group
update (capacity and version pin merged into one call), the weights, then the tags recording
what happened (a side verified or retired) and last the failed marker, so a tag write that
fails can never hold up a flip.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.model import (
    NEW_VERSION,
    TAG_BG_ROLLOUT,
    TAG_BG_STEP,
    Action,
    BlueGreenDecision,
    Change,
    Color,
    DeleteScalingPolicy,
    DesiredService,
    Diff,
    FailSide,
    MarkFailed,
    MarkSide,
    Move,
    ObservedService,
    Phase,
    PinSide,
    Plan,
    PutScalingPolicy,
    RecordSide,
    Resource,
    ScaleSide,
    SetForwardWeights,
    SetWeights,
    TagResource,
    UpdateAutoScalingGroup,
    Value,
    VersionPin,
    scaling_policy_name,
)
from reconciler.model.markers import failed_marker
from reconciler.pipeline.diff.bluegreen_scaling import wanted_for
from reconciler.pipeline.diff.bluegreen_view import Sides
from reconciler.pipeline.plan.phases import create_version
from reconciler.pipeline.plan.settings import reasons, settings_actions

_PLANNED = frozenset({Phase.OUT_OF_SYNC, Phase.PROGRESSING, Phase.FAILED, Phase.IN_SYNC})
_SETTING_FIELDS = ("tags", "healthCheckType", "healthCheckGracePeriod")
_INTENT = frozenset({TAG_BG_STEP, TAG_BG_ROLLOUT})


def plan_blue_green(
    desired: DesiredService,
    observed: ObservedService,
    diff: Diff,
    *,
    owner: str,
    revision: str | None,
) -> Plan:
    decision = diff.blue_green
    sides = sides_of(observed)
    if diff.phase not in _PLANNED or decision is None or sides is None:
        return Plan(desired.name, (), diff.phase, diff.message)
    actions = [
        *_settings(desired, observed, sides, diff.changes, owner=owner),
        *_moves(desired, sides, decision.moves, revision=revision),
        *_scaling(desired, sides, decision, diff.changes),
    ]
    ordered = tuple(sorted(actions, key=lambda a: a.kind))
    return Plan(desired.name, ordered, diff.phase, diff.message)


def sides_of(observed: ObservedService) -> Sides | None:
    seen = observed.blue_green
    if seen is None:
        return None
    parts = (
        observed.auto_scaling_group,
        observed.target_group,
        seen.green_group,
        seen.green_target_group,
        observed.launch_template,
    )
    blue, blue_target, green, green_target, template = parts
    if blue is None or blue_target is None or green is None or green_target is None:
        return None
    if template is None:
        return None
    return Sides(blue, blue_target, green, green_target, template, seen)


def _is_setting(change: Change) -> bool:
    return change.field in _SETTING_FIELDS or change.field.startswith("healthCheck.")


def _settings(
    desired: DesiredService,
    observed: ObservedService,
    sides: Sides,
    changes: Iterable[Change],
    *,
    owner: str,
) -> list[Action]:
    settings = [c for c in changes if _is_setting(c) and c.resource is not Resource.LISTENER]
    actions: list[Action] = []
    for color in Color:
        group, target = sides.group(color), sides.target(color)
        names = {group.name, target.name, sides.template.name if color is Color.BLUE else ""}
        found, _ = settings_actions(
            desired,
            observed=observed,
            group=group,
            template=sides.template,
            target=target,
            changes=[c for c in settings if c.resource_name in names],
            owner=owner,
        )
        actions += found
    return actions


def _moves(
    desired: DesiredService, sides: Sides, moves: Iterable[Move], *, revision: str | None
) -> list[Action]:
    actions: list[Action] = []
    updates: dict[Color, tuple[dict[str, Value], VersionPin | None, list[str]]] = {}
    for move in moves:
        match move:
            case SetWeights():
                actions.append(_weights(desired, sides, move))
            case ScaleSide():
                settings, pin, why = updates.setdefault(move.color, ({}, None, []))
                settings.update(
                    min_size=move.min_size, max_size=move.max_size, desired_capacity=move.desired
                )
                why.append(move.reason)
            case PinSide():
                settings, _, why = updates.setdefault(move.color, ({}, None, []))
                version = str(move.version) if isinstance(move.version, int) else NEW_VERSION
                updates[move.color] = (settings, VersionPin(sides.template.id, version), why)
                why.append(move.reason)
                if move.version == NEW_VERSION:
                    actions.append(
                        create_version(
                            desired,
                            group=sides.group(move.color),
                            template=sides.template,
                            revision=revision,
                        )
                    )
            case MarkSide():
                actions.append(_tags(sides, move))
            case FailSide():
                marker = failed_marker(desired, refresh_id=None)
                name = sides.group(move.color).name
                actions.append(
                    MarkFailed(resource_name=name, reason=move.reason, fingerprint=marker)
                )
    for color, (settings, pin, why) in updates.items():
        actions.append(
            UpdateAutoScalingGroup(
                resource_name=sides.group(color).name,
                reason="; ".join(why),
                settings=settings,
                pin=pin,
            )
        )
    return actions


def _weights(desired: DesiredService, sides: Sides, move: SetWeights) -> SetForwardWeights:
    spec = desired.spec.blue_green
    forward = sides.seen.forward
    assert spec is not None and forward is not None
    return SetForwardWeights(
        resource_name=spec.listener.describe(),
        reason=move.reason,
        listener_arn=forward.listener_arn,
        rule_arn=forward.rule_arn,
        weights={sides.blue_target.arn: move.blue, sides.green_target.arn: move.green},
    )


def _tags(sides: Sides, move: MarkSide) -> TagResource | RecordSide:
    """A step's or a rollout's tag is the intent, written before the weights or the pin; the
    rest (verified, retired) records what happened, written after the weights."""
    group = sides.group(move.color).name
    if not _INTENT.intersection(move.tags):
        return RecordSide(resource_name=group, reason=move.reason, tags=dict(move.tags))
    return TagResource(
        resource_name=group,
        reason=move.reason,
        resource_type=Resource.AUTO_SCALING_GROUP,
        resource_id=group,
        tags=dict(move.tags),
    )


def _scaling(
    desired: DesiredService,
    sides: Sides,
    decision: BlueGreenDecision,
    changes: Iterable[Change],
) -> list[Action]:
    """Each side's policy as ``wanted_policies`` says, where the diff found it differs."""
    by_group: dict[str, list[Change]] = {}
    for change in changes:
        if change.resource is Resource.SCALING_POLICY:
            by_group.setdefault(change.resource_name, []).append(change)
    name = scaling_policy_name(desired.name)
    actions: list[Action] = []
    for color, want in wanted_for(desired, sides, decision).items():
        group = sides.group(color).name
        if group not in by_group:
            continue
        why = f"{name}: {reasons(by_group[group])}"
        if want is None:
            actions.append(DeleteScalingPolicy(resource_name=group, reason=why, policy_name=name))
            continue
        actions.append(
            PutScalingPolicy(
                resource_name=group,
                reason=why,
                policy_name=name,
                target_value=want.target_value,
                enabled=want.enabled,
                disable_scale_in=want.disable_scale_in,
            )
        )
    return actions
