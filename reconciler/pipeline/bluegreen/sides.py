"""Which side is the target and which the other, their weights as percent, and whether a side
is ready to take traffic: the facts every blue/green rule reads.

``T`` (the target) is the side with the desired revision, or the one about to get it; ``P`` is
the other side. Weights are read as percent of the listener's total, since a hand edit may leave
any total (the forward accepts 0-999 per target group).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.model import (
    BlueGreenDecision,
    BlueGreenState,
    Color,
    Move,
    Phase,
    ScaleSide,
    SetWeights,
    SideView,
    Stage,
)


@dataclass(frozen=True, slots=True)
class Sides:
    """The state seen from the target: ``t`` and ``p``, with their weights in percent."""

    state: BlueGreenState
    t: SideView
    p: SideView
    t_weight: int  # percent; p's is 100 - t_weight

    @property
    def p_weight(self) -> int:
        return 100 - self.t_weight


def percent(state: BlueGreenState) -> tuple[int, int] | None:
    """(blue, green) as percent of their total; None when the total is 0. Green is the rest of
    blue's rounding, so the two always add up to 100."""
    blue, green = max(state.blue.weight, 0), max(state.green.weight, 0)
    total = blue + green
    if total == 0:
        return None
    blue_percent = round(100 * blue / total)
    return blue_percent, 100 - blue_percent


def sides(state: BlueGreenState, blue_percent: int) -> Sides:
    target = _target(state, blue_percent)
    t, p = state.side(target), state.side(target.other)
    t_weight = blue_percent if target is Color.BLUE else 100 - blue_percent
    return Sides(state=state, t=t, p=p, t_weight=t_weight)


def _target(state: BlueGreenState, blue_percent: int) -> Color:
    blue, green = state.blue, state.green
    if blue.runs_desired and green.runs_desired:
        return Color.GREEN if blue_percent < 50 else Color.BLUE
    if blue.runs_desired or green.runs_desired:
        return Color.BLUE if blue.runs_desired else Color.GREEN
    # Neither runs it: the side with less traffic gets it, so the other keeps serving.
    if blue_percent != 50:
        return Color.BLUE if blue_percent < 50 else Color.GREEN
    if (blue.marks.verified is None) != (green.marks.verified is None):
        return Color.BLUE if blue.marks.verified is None else Color.GREEN
    return Color.GREEN


def traffic_steps(state: BlueGreenState) -> tuple[int, ...]:
    """The steps as the decision walks them: increasing percentages in 1-100, ending at 100,
    whatever the spec let through (a 0 step would never leave the idle stage)."""
    found = sorted({value for value in state.steps if 0 < value <= 100})
    return (*found, 100) if not found or found[-1] != 100 else tuple(found)


def need(state: BlueGreenState, serving: SideView) -> int:
    """The capacity a side must have to take over from ``serving``: its current desired (the
    autoscaler owns capacity), at least the spec's min size and 1, at most its max size."""
    wanted = max(serving.desired, state.min_size, 1)
    return min(wanted, state.max_size) if state.max_size >= 1 else wanted


def ready(side: SideView, count: int) -> bool:
    """Healthy at capacity: ``count`` targets healthy, as many InService on its version, and
    nothing of another version left to take traffic."""
    return (
        count >= 1
        and side.healthy >= count
        and side.instances >= count
        and side.other_instances == 0
    )


def readiness(side: SideView, count: int) -> str:
    """Why ``side`` is not ready at ``count``, in words."""
    if side.other_instances:
        return f"{side.other_instances} instance(s) of other versions still in {side.color}"
    return (
        f"{side.color} has {side.healthy} of {count} targets healthy"
        f" ({side.instances} InService, desired {side.desired})"
    )


def weights(color: Color, percent_of_color: int, reason: str) -> SetWeights:
    """SetWeights giving ``color`` its percent and the other side the rest."""
    other = 100 - percent_of_color
    if color is Color.BLUE:
        return SetWeights(blue=percent_of_color, green=other, reason=reason)
    return SetWeights(blue=other, green=percent_of_color, reason=reason)


def scale(
    state: BlueGreenState, side: SideView, desired: int, min_size: int, reason: str
) -> tuple[ScaleSide, ...]:
    """ScaleSide to ``desired`` (min ``min_size``, max the spec's), or nothing when the side
    already has those sizes."""
    max_size = max(state.max_size, desired)
    if (side.desired, side.min_size, side.max_size) == (desired, min_size, max_size):
        return ()
    return (ScaleSide(side.color, desired, min_size, max_size, reason),)


def split(blue: int, green: int) -> str:
    """The weights in words: the side with more traffic first."""
    if green > blue:
        return f"green {green}%, blue {blue}%"
    return f"blue {blue}%, green {green}%"


def decided(
    s: Sides,
    phase: Phase,
    stage: Stage,
    moves: Sequence[Move],
    message: str,
    next_: str = "",
    step: int | None = None,
) -> BlueGreenDecision:
    return BlueGreenDecision(
        phase=phase,
        stage=stage,
        target=s.t.color,
        moves=tuple(moves),
        message=message,
        next=next_,
        step=step,
        live=live_after(s, moves),
    )


def live_after(s: Sides, moves: Sequence[Move]) -> Color:
    """The side with more traffic once ``moves`` are applied; on a tie, the side that had the
    traffic before the target (``p``)."""
    written = [m for m in moves if isinstance(m, SetWeights)]
    t_weight = s.t_weight
    if written:
        last = written[-1]
        t_weight = last.blue if s.t.color is Color.BLUE else last.green
    return s.t.color if t_weight > 50 else s.p.color
