"""A blue/green rollout's gates in words, for the pull-request diff: how the idle side is
prepared, the steps and what gates them, and what a rollback is."""

from __future__ import annotations

from reconciler.model import Color

UNGATED = "analysis off: each step waits out the pause and the health of its targets only"


def describe_plan(
    steps: tuple[int, ...],
    step_pause: int,
    *,
    scale_down_delay: int,
    warm_standby: int = 0,
    live: Color = Color.BLUE,
    analysis: bool = True,
) -> tuple[str, ...]:
    """The promises, with ``live`` the side that takes the traffic now (the other is idle)."""
    shown = steps or (100,)
    path = " → ".join(f"{value}%" for value in shown)
    gate = (
        f"each step gated by the analysis (canary against {live}'s target group)"
        if analysis
        else UNGATED
    )
    pause = f"{step_pause} s each" if len(shown) > 1 else "in one step"
    standby = f"to {warm_standby} (warm standby)" if warm_standby else "to 0"
    return (
        prepare(live),
        f"{path}, {pause}, {gate}",
        f"rollback: one listener write back to {live}; {live} stays at full capacity for"
        f" {scale_down_delay} s after 100%, then scales down {standby}",
    )


def prepare(live: Color) -> str:
    """How the idle side (the other than ``live``) is made ready before it takes any traffic."""
    return (
        f"deploy to {live.other} (idle), scale it to {live}'s capacity,"
        " wait until its targets are healthy"
    )
