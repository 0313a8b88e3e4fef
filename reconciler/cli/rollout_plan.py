"""A diff's rollout plan for people: the image, the strategy and its steps, the checks that gate
them, and the rollback target, as indented text lines (``reconciler diff``) or a markdown list
(the pull-request comment). Pure rendering of a ``RolloutPlan``; nothing here decides.
"""

from __future__ import annotations

import re

from reconciler.model import (
    BlueGreenPlan,
    Checkpoint,
    ImageMove,
    ImageSpec,
    RollbackMethod,
    RollbackPlan,
    RollingPlan,
    RolloutPlan,
)
from reconciler.pipeline.bluegreen.describe import prepare

# A pinned reference or a bare digest: shown as code, so a 64-digit hex reads as one value.
_DIGEST = re.compile(r"(?:[\w.:/-]+@)?sha256:[0-9a-f]{64}")

Line = tuple[int, str]  # (depth, words)

NO_ROLLOUT = "no rollout: only settings change, by API calls; no instance is replaced"


def plan_lines(plan: RolloutPlan) -> list[Line]:
    """The plan as nested lines, the headline at depth 0."""
    if plan.image is None:
        return [(0, f"rollout plan ({plan.strategy}): {NO_ROLLOUT}")]
    lines: list[Line] = [(0, f"rollout plan ({_strategy(plan)}):"), (1, _image(plan.image))]
    if plan.rolling is not None:
        lines.extend(_rolling(plan.rolling))
    if plan.blue_green is not None:
        lines.extend(_blue_green(plan.blue_green))
    lines.append((1, _gates_headline(plan)))
    lines.extend((2, check) for check in plan.checks)
    if plan.rollback is not None:
        lines.append((1, _rollback(plan.rollback)))
    return lines


def _gates_headline(plan: RolloutPlan) -> str:
    if plan.blue_green is not None:
        return "gates, judged at every step; a step goes on only once they pass:"
    if plan.rolling is not None and any(c.gated for c in plan.rolling.checkpoints):
        return "gates, judged all along the refresh; each checkpoint waits for them to pass:"
    return "gates, judged all along the refresh:"


def text_lines(plan: RolloutPlan, *, indent: str = "  ") -> list[str]:
    return [f"{indent * (depth + 1)}{words}" for depth, words in plan_lines(plan)]


def markdown_lines(plan: RolloutPlan) -> list[str]:
    # A line break would end the list item and leave the rest outside the list.
    def item(depth: int, words: str) -> str:
        flat = words.replace("\n", " ")
        return "  " * (depth - 1) + "- " + _DIGEST.sub(r"`\g<0>`", flat)

    (_, headline), *rest = plan_lines(plan)
    title = headline[:1].upper() + headline[1:]
    return [f"**{title}**", *(["", *(item(d, w) for d, w in rest)] if rest else [])]


def _strategy(plan: RolloutPlan) -> str:
    if plan.blue_green is not None:
        bg = plan.blue_green
        return f"blueGreen: {bg.target} takes the traffic from {bg.live} on {bg.listener}"
    return "rolling: one instance refresh"


def _image(move: ImageMove) -> str:
    desired = move.desired
    tag = f"{desired.tag} → " if desired.tag else ""
    now = running(move.running)
    return f"image: {tag}{desired.repository}@{desired.digest} (running now: {now})"


def running(image: ImageSpec | None) -> str:
    """What runs now: its digest, or a tag that never was resolved."""
    if image is not None and image.digest:
        return f"{image.tag} ({image.digest})" if image.tag else image.digest
    if image is not None and image.tag:
        return f"{image.tag} (unpinned: whatever the tag named at each boot)"
    return "unknown"


def _rolling(rolling: RollingPlan) -> list[Line]:
    healthy = f"min healthy {rolling.min_healthy_percentage}%"
    if rolling.max_healthy_percentage is not None:
        healthy += f", max healthy {rolling.max_healthy_percentage}%"
    warmup = (
        f"instance warmup {span(rolling.instance_warmup)}"
        if rolling.instance_warmup is not None
        else "instance warmup: the group's default"
    )
    auto = "on" if rolling.auto_rollback else "off"
    noun = "instance" if rolling.instances == 1 else "instances"
    lines: list[Line] = [
        (
            1,
            f"refresh: {healthy}, {warmup}, autoRollback {auto}; replaces {rolling.instances}"
            f" {noun}, {rolling.batch} at a time",
        )
    ]
    skip = "skips instances already on the version" if rolling.skip_matching else "replaces all"
    lines.append(
        (
            1,
            f"skipMatching {str(rolling.skip_matching).lower()} ({skip});"
            f" scale-in protected instances: {rolling.scale_in_protected_instances};"
            f" standby instances: {rolling.standby_instances}",
        )
    )
    lines.extend((1, _checkpoint(c)) for c in rolling.checkpoints)
    if rolling.bake_time:
        lines.append((1, f"bake: {span(rolling.bake_time)} after the last replacement, judged"))
    return lines


def _checkpoint(checkpoint: Checkpoint) -> str:
    at = f"checkpoint {checkpoint.percentage}%"
    if checkpoint.gated:
        return f"{at}: held until the gates below pass, and at least {span(checkpoint.hold)}"
    return f"{at}: AWS pauses {span(checkpoint.hold)}, then goes on by itself (not a gate)"


def _blue_green(bg: BlueGreenPlan) -> list[Line]:
    lines: list[Line] = [(1, f"first: {prepare(bg.live)}")]
    for number, step in enumerate(bg.steps, start=1):
        at = f"step {number}: {step.percent}% to {bg.target}"
        if step.percent < 100:
            lines.append((1, f"{at}, held {span(step.hold)}"))
        else:
            standby = f"{bg.warm_standby} (warm standby)" if bg.warm_standby else "0"
            lines.append(
                (
                    1,
                    f"{at}; {bg.live} stays at full capacity for {span(step.hold)},"
                    f" still judged, then scales down to {standby}",
                )
            )
    return lines


def _rollback(rollback: RollbackPlan) -> str:
    number = rollback.version
    version = f"launch template version {number}" if number is not None else "what runs now"
    target = f"{version} ({running(rollback.image)})"
    if rollback.method is RollbackMethod.LISTENER_FLIP:
        return (
            f"if this goes wrong: a listener flip, all traffic back to {rollback.side} on {target}"
            " in one write, within seconds (after the scale-down delay a revert scales"
            f" {rollback.side} up first)"
        )
    took = f"about {span(rollback.seconds)} plus boot time"
    if rollback.method is RollbackMethod.ROLLBACK_REFRESH:
        return f"if this goes wrong: RollbackInstanceRefresh back to {target}, {took}"
    return (
        "if this goes wrong: CancelInstanceRefresh (autoRollback is off); new instances keep"
        f" the new image until a revert rolls back to {target}, {took}"
    )


def span(seconds: int) -> str:
    """``45 s``, ``300 s (5 min)``, ``3600 s (1 h)``: seconds as the spec says, and a reading."""
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds} s ({round(seconds / 60)} min)"
    return f"{seconds} s ({seconds / 3600:.3g} h)"
