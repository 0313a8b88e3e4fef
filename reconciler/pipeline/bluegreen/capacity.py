"""The target at 100%: the rollout recorded as verified, the target sized as the live side,
and the other side kept at the live side's capacity for ``scale_down_delay`` after it lost its
traffic, then scaled down to the warm standby (B1).

The other side stays warm only when it is worth returning to: a side whose revision failed, or
that never ran a verified revision, is scaled down at once.
"""

from __future__ import annotations

from reconciler.model import (
    TAG_BG_RETIRED,
    TAG_BG_STEP,
    TAG_BG_VERIFIED,
    BlueGreenDecision,
    MarkSide,
    Move,
    Phase,
    Stage,
)
from reconciler.pipeline.analysis.text import clock
from reconciler.pipeline.bluegreen.marks import epoch_value
from reconciler.pipeline.bluegreen.sides import Sides, decided, scale


def steady(s: Sides) -> BlueGreenDecision:
    state, t, p = s.state, s.t, s.p
    moves: list[Move] = []
    completing = t.marks.verified != state.fingerprint
    if completing:
        tags = {TAG_BG_VERIFIED: state.fingerprint, TAG_BG_STEP: ""}
        moves.append(MarkSide(t.color, tags, f"{t.color} reached 100%"))
    retired_at = p.marks.retired_at
    if retired_at is None and (completing or p.desired > state.warm_standby):
        # Without the tag the delay has no start (a crash after the flip, a hand edit): now.
        moves.append(MarkSide(p.color, {TAG_BG_RETIRED: epoch_value(state.now)}, "retired"))
    if retired_at is None:
        retired_at = state.now
    live_size = min(max(t.desired, state.min_size), max(state.max_size, state.min_size))
    moves += scale(state, t, live_size, state.min_size, f"{t.color} is the live side")
    marked = any(isinstance(m, MarkSide) for m in moves)
    base = f"{t.color} takes 100% on revision {state.fingerprint}, {p.color} 0%"
    if p.desired <= state.warm_standby:
        return _done(s, moves, marked, Stage.STEADY, base, "")
    if p.marks.failed is not None or p.marks.verified is None:
        why = "its revision failed" if p.marks.failed is not None else "it ran nothing verified"
        moves += _down(s, why)
        message = f"{base}; {p.color} scales down: {why}"
        return _done(s, moves, marked, Stage.SCALING_DOWN, message, "")
    due = retired_at + state.scale_down_delay
    if state.now >= due:
        moves += _down(s, f"{state.scale_down_delay} s after it lost its traffic")
        return _done(s, moves, marked, Stage.SCALING_DOWN, f"{base}; {p.color} scales down", "")
    if p.desired != live_size:
        # Only the desired follows: the floor drops to 0 when it scales down, not before.
        floor = min(p.min_size, live_size)
        moves += scale(state, p, live_size, floor, f"{p.color} stays ready for a rollback")
    return _done(
        s,
        moves,
        marked,
        Stage.SCALING_DOWN,
        f"{base}; {p.color} stays at {live_size} for a rollback",
        f"scale {p.color} down to {state.warm_standby} at {clock(due)}",
    )


def _down(s: Sides, why: str) -> tuple[Move, ...]:
    return scale(s.state, s.p, s.state.warm_standby, 0, f"{s.p.color} scales down: {why}")


def _done(
    s: Sides, moves: list[Move], marked: bool, stage: Stage, message: str, next_: str
) -> BlueGreenDecision:
    """IN_SYNC unless the rollout's completion is still being recorded: capacity moves are
    upkeep, like the autoscaler's own."""
    phase = Phase.PROGRESSING if marked else Phase.IN_SYNC
    return decided(s, phase, stage, moves, message, next_)
