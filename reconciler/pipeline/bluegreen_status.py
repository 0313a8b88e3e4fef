"""A blue/green service's status: which side is live, the weights, each side's revision, image,
capacity and healthy targets, the stage and the step, and where a rollback would go.

Read from one pass's record (the diff's decision and what was observed), like the rest of
``status``: nothing is remembered, so it reads the same after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.images import scripts
from reconciler.images.description import parse_description
from reconciler.model import TAG_BG_VERIFIED, Color, ServiceOutcome, SetForwardWeights
from reconciler.pipeline.diff.bluegreen_moves import current_weights, split
from reconciler.pipeline.diff.bluegreen_view import Sides
from reconciler.pipeline.diff.versions import current_version
from reconciler.pipeline.plan.bluegreen import sides_of


@dataclass(frozen=True)
class SideStatus:
    color: str
    group: str
    target_group: str
    weight: int  # percent of the forward's traffic
    desired: int
    healthy: int
    launch_template_version: int | None
    revision: str | None  # git commit the version records
    image: str | None


@dataclass(frozen=True)
class BlueGreenStatus:
    stage: str
    live: str | None  # the side with most of the traffic after this pass's moves
    target: str  # the side with the desired revision
    step: int | None  # 1-based, of len(steps)
    steps: tuple[int, ...]
    sides: tuple[SideStatus, SideStatus]
    rollback_to: str | None  # the other side, when a revision it ran passed there before


def blue_green_status(outcome: ServiceOutcome) -> BlueGreenStatus | None:
    diff, observed = outcome.diff, outcome.observed
    decision = diff.blue_green if diff is not None else None
    sides = sides_of(observed) if observed is not None else None
    spec = outcome.spec.blue_green
    if decision is None or sides is None or spec is None:
        return None
    weights = _weights_now(outcome, sides)
    blue, green = (_side(sides, color, weights) for color in (Color.BLUE, Color.GREEN))
    other = green if decision.target is Color.BLUE else blue
    verified = sides.group(Color(other.color)).tags.get(TAG_BG_VERIFIED)
    return BlueGreenStatus(
        stage=decision.stage.value,
        live=decision.live.value if decision.live is not None else None,
        target=decision.target.value,
        step=decision.step + 1 if decision.step is not None else None,
        steps=spec.traffic_steps,
        sides=(blue, green),
        # Only while the target side has traffic: after a flip the other side has it already.
        rollback_to=other.color if verified and decision.live is decision.target else None,
    )


def _weights_now(outcome: ServiceOutcome, sides: Sides) -> tuple[int, int]:
    """The weights after this pass: those apply wrote (and read back), else those observed."""
    done = outcome.applied.done if outcome.applied is not None else []
    written = [a for a in done if isinstance(a, SetForwardWeights)]
    if not written:
        return current_weights(sides)
    weights = written[-1].weights
    return split(weights.get(sides.blue_target.arn, 0), weights.get(sides.green_target.arn, 0))


def _side(sides: Sides, color: Color, weights: tuple[int, int]) -> SideStatus:
    group, target, template = sides.group(color), sides.target(color), sides.template
    number = current_version(group, template)
    version = template.version(number) if number is not None else None
    found = scripts.version_image(version) if version else None
    targets = sides.seen.blue_targets if color is Color.BLUE else sides.seen.green_targets
    members = {i.instance_id for i in group.instances}
    return SideStatus(
        color=color.value,
        group=group.name,
        target_group=target.name,
        weight=weights[0] if color is Color.BLUE else weights[1],
        desired=group.desired_capacity,
        healthy=sum(1 for t in targets if t.state == "healthy" and t.instance_id in members),
        launch_template_version=number,
        revision=parse_description(version.description).get("rev") if version else None,
        image=(found.pinned or str(found)) if found else None,
    )
