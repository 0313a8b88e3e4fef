"""The target at 100%: the rollout recorded as verified, the target sized as the live side,
and the other side kept at the live side's capacity for ``scale_down_delay`` after it lost its
traffic, then scaled down to the warm standby (B1).

The other side stays warm only when it is worth returning to: a side whose revision failed, or
that never ran a verified revision, is scaled down at once. While it stays warm the rollout is
still open, so a failed analysis flips back to it like at any other step.
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
    Verdict,
)
from reconciler.pipeline.analysis.text import clock
from reconciler.pipeline.bluegreen import steps
from reconciler.pipeline.bluegreen.marks import epoch_value
from reconciler.pipeline.bluegreen.sides import Sides, decided, scale


def steady(s: Sides) -> BlueGreenDecision:
    state, p = s.state, s.p
    analysis = state.analysis
    if analysis is not None and analysis.verdict is Verdict.FAIL and _open(s):
        return steps.fail_back(s, analysis.message)
    moves = [*_record(s), *_live_size(s)]
    marked = bool(moves) and isinstance(moves[0], MarkSide)
    base = f"{s.t.color} takes 100% on revision {state.fingerprint}, {p.color} 0%"
    if p.desired <= state.warm_standby:
        return _done(s, moves, marked, Stage.STEADY, base, "")
    if not _worth_returning_to(s):
        why = "its revision failed" if p.marks.failed is not None else "it ran nothing verified"
        moves += _down(s, why)
        message = f"{base}; {p.color} scales down: {why}"
        return _done(s, moves, marked, Stage.SCALING_DOWN, message, "")
    due = _retired_at(s) + state.scale_down_delay
    if state.now >= due:
        moves += _down(s, f"{state.scale_down_delay} s after it lost its traffic")
        return _done(s, moves, marked, Stage.SCALING_DOWN, f"{base}; {p.color} scales down", "")
    size = _size(s)
    moves += _follow(s, size)
    return _done(
        s,
        moves,
        marked,
        Stage.SCALING_DOWN,
        f"{base}; {p.color} stays at {size} for a rollback",
        f"scale {p.color} down to {state.warm_standby} at {clock(due)}",
    )


def _open(s: Sides) -> bool:
    """Whether the rollout can still be rolled back by a flip: not yet verified, or the other
    side still warm and worth returning to."""
    if s.t.marks.verified != s.state.fingerprint:
        return True
    warm = s.p.desired > s.state.warm_standby and _worth_returning_to(s)
    return warm and s.state.now < _retired_at(s) + s.state.scale_down_delay


def _worth_returning_to(s: Sides) -> bool:
    return s.p.marks.failed is None and s.p.marks.verified is not None


def _retired_at(s: Sides) -> float:
    """When the other side lost its traffic; now when its tag is missing or in the future
    (``_record`` writes it), so the delay never starts before it could have."""
    at = s.p.marks.retired_at
    return s.state.now if at is None or at > s.state.now else at


def _record(s: Sides) -> list[Move]:
    """The tags of a finished rollout: the target verified, with no step and no retirement;
    the other side retired."""
    state, t, p = s.state, s.t, s.p
    completing = t.marks.verified != state.fingerprint
    tags: dict[str, str] = {}
    if completing:
        tags[TAG_BG_VERIFIED] = state.fingerprint
    if completing or t.marks.step is not None:
        tags[TAG_BG_STEP] = ""
    if t.marks.retired_at is not None:
        tags[TAG_BG_RETIRED] = ""  # it was retired before it took the traffic back
    moves: list[Move] = [MarkSide(t.color, tags, f"{t.color} reached 100%")] if tags else []
    retired = p.marks.retired_at
    if (retired is None or retired > state.now) and (completing or p.desired > state.warm_standby):
        # Without the tag the delay has no start (a crash after the flip, a hand edit): now.
        at = epoch_value(state.now)
        moves.append(MarkSide(p.color, {TAG_BG_RETIRED: at}, f"{p.color} lost its traffic"))
    return moves


def _size(s: Sides) -> int:
    """The live side's desired: the autoscaler's, within the spec's sizes."""
    state = s.state
    return min(max(s.t.desired, state.min_size), max(state.max_size, state.min_size))


def _live_size(s: Sides) -> tuple[Move, ...]:
    return scale(s.state, s.t, _size(s), s.state.min_size, f"{s.t.color} is the live side")


def _follow(s: Sides, size: int) -> tuple[Move, ...]:
    """The other side follows the live side's desired while it waits; its floor drops to 0
    only when it scales down."""
    p = s.p
    if p.desired == size:
        return ()
    return scale(s.state, p, size, min(p.min_size, size), f"{p.color} stays ready for a rollback")


def _down(s: Sides, why: str) -> tuple[Move, ...]:
    return scale(s.state, s.p, s.state.warm_standby, 0, f"{s.p.color} scales down: {why}")


def _done(
    s: Sides, moves: list[Move], marked: bool, stage: Stage, message: str, next_: str
) -> BlueGreenDecision:
    """IN_SYNC unless the rollout's completion is still being recorded: capacity moves are
    upkeep, like the autoscaler's own."""
    phase = Phase.PROGRESSING if marked else Phase.IN_SYNC
    return decided(s, phase, stage, moves, message, next_)
