"""The blue/green decision's moves as diff changes, old → new, the way the diff shows every
field: the forward's weights, each side's capacity and launch template version. The tags the
decision keeps on each group (its memory) are bookkeeping, shown in the plan, not here."""

from __future__ import annotations

from reconciler.model import (
    BlueGreenDecision,
    Change,
    DesiredService,
    ObservedAutoScalingGroup,
    PinSide,
    Resource,
    ScaleSide,
    SetWeights,
    Value,
)
from reconciler.pipeline.diff.bluegreen_view import Sides
from reconciler.pipeline.diff.versions import content_changes, current_version


def weights_text(blue: int, green: int) -> str:
    """``blue 90% / green 10%``: how weights are shown everywhere."""
    return f"blue {blue}% / green {green}%"


def current_weights(sides: Sides) -> tuple[int, int]:
    """The forward's weights as percentages of their total (0 / 0 without any)."""
    forward = sides.seen.forward
    weights = forward.weights if forward is not None else {}
    return split(weights.get(sides.blue_target.arn, 0), weights.get(sides.green_target.arn, 0))


def split(blue: int, green: int) -> tuple[int, int]:
    """Two weights as percentages adding up to 100 (0 / 0 when neither has any)."""
    total = blue + green
    if total <= 0:
        return 0, 0
    shown_blue = round(100 * blue / total)
    return shown_blue, 100 - shown_blue


def move_changes(
    desired: DesiredService, sides: Sides, decision: BlueGreenDecision
) -> tuple[Change, ...]:
    found: list[Change] = []
    spec = desired.spec.blue_green
    assert spec is not None
    for move in decision.moves:
        if isinstance(move, SetWeights):
            old = weights_text(*current_weights(sides))
            new = weights_text(move.blue, move.green)
            found.append(Change(Resource.LISTENER, spec.listener.describe(), "weights", old, new))
        elif isinstance(move, ScaleSide):
            found += _capacity_changes(sides, move)
        elif isinstance(move, PinSide):
            group = sides.group(move.color)
            found += _content(desired, sides, group)
            version: Value = move.version if isinstance(move.version, int) else "(new version)"
            found.append(
                Change(
                    Resource.AUTO_SCALING_GROUP,
                    group.name,
                    "launchTemplate.version",
                    group.launch_template_version,
                    version,
                )
            )
    return tuple(found)


def _content(
    desired: DesiredService, sides: Sides, group: ObservedAutoScalingGroup
) -> list[Change]:
    """What the side's instances will run instead: the image (or the UserData), on its group."""
    number = current_version(group, sides.template)
    current = sides.template.version(number) if number is not None else None
    if current is None:
        return []
    return [
        Change(Resource.AUTO_SCALING_GROUP, group.name, c.field, c.old, c.new, detail=c.detail)
        for c in content_changes(desired, template=sides.template, current=current)
    ]


def _capacity_changes(sides: Sides, move: ScaleSide) -> list[Change]:
    group = sides.group(move.color)
    pairs = (
        ("minSize", group.min_size, move.min_size),
        ("maxSize", group.max_size, move.max_size),
        ("desiredCapacity", group.desired_capacity, move.desired),
    )
    return [
        Change(Resource.AUTO_SCALING_GROUP, group.name, name, old, new)
        for name, old, new in pairs
        if old != new
    ]
