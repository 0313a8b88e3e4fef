"""Shifting traffic to the target in ``steps``, each step held for ``step_pause`` and gated by
the analysis: which step the weights are at, drift back to it, the pause, and the advance.

The step tag (``<index>@<epoch>``) is written with the weights it records, so a crash between
the two is read back safely: a tag that does not name the current step restarts the pause now,
and weights that are no step value (a hand edit) are put back to the tagged step. Missing data
never passes a gate: only Verdict.PASS advances.
"""

from __future__ import annotations

from reconciler.model import (
    TAG_BG_STEP,
    BlueGreenDecision,
    FailSide,
    MarkSide,
    Move,
    Phase,
    Stage,
    Verdict,
)
from reconciler.pipeline.analysis.text import clock
from reconciler.pipeline.bluegreen import flips
from reconciler.pipeline.bluegreen.marks import step_value
from reconciler.pipeline.bluegreen.sides import (
    Sides,
    decided,
    need,
    readiness,
    ready,
    scale,
    traffic_steps,
    weights,
)


def steps_of(s: Sides) -> tuple[int, ...]:
    return traffic_steps(s.state)


def start(s: Sides) -> BlueGreenDecision:
    """The target is healthy at capacity with no traffic: the first step (B3)."""
    first = steps_of(s)[0]
    moves = (
        MarkSide(s.t.color, {TAG_BG_STEP: step_value(0, s.state.now)}, "step 0 starts"),
        weights(s.t.color, first, f"step 1 of {len(steps_of(s))}"),
    )
    return decided(
        s,
        Phase.PROGRESSING,
        Stage.STEPPING,
        moves,
        f"{s.t.color} takes {first}% ({_of(s, 0)}), {s.p.color} {100 - first}%",
        _advance_at(s, 0, s.state.now),
        step=0,
    )


def stepping(s: Sides) -> BlueGreenDecision:
    """The target takes part of the traffic and has not run the revision before (B2)."""
    analysis = s.state.analysis
    index, drift = current_step(s)
    if analysis is not None and analysis.verdict is Verdict.FAIL:
        return fail_back(s, analysis.message)
    count = need(s.state, s.p)
    moves: list[Move] = list(
        scale(s.state, s.t, count, 0, f"{s.t.color} follows {s.p.color}'s capacity")
    )
    if drift:
        back = _back(s, index, count)
        if back == s.t_weight:
            why = f"weights are {s.t_weight}%, not a step value, and no side can take more"
            return _hold(s, index, moves, why)
        moves.append(weights(s.t.color, back, "drift: back to the current step"))
        why = f"weights were {s.t_weight}%, not a step value: drift corrected to {back}%"
        return _hold(s, index, moves, why, back)
    since = _since(s, index)
    if since is None:
        moves.append(MarkSide(s.t.color, {TAG_BG_STEP: step_value(index, s.state.now)}, "pause"))
        return _hold(s, index, moves, "the step tag did not name this step: the pause restarts")
    why = _holding(s, index, since, count)
    if why:
        return _hold(s, index, moves, why)
    return _advanced(s, index, moves)


def _since(s: Sides, index: int) -> float | None:
    """When the current step started, if the tag says so; a time in the future (a hand edit,
    a skewed clock) would hold the step for as long, so it restarts the pause instead."""
    marks = s.t.marks
    if marks.step != index or marks.step_at is None or marks.step_at > s.state.now:
        return None
    return marks.step_at


def current_step(s: Sides) -> tuple[int, bool]:
    """The step index the weights are at, and whether they drifted off every step value."""
    steps = steps_of(s)
    if s.t_weight in steps:
        return steps.index(s.t_weight), False
    tagged = s.t.marks.step
    if tagged is not None and 0 <= tagged < len(steps):
        return tagged, True
    below = [i for i, value in enumerate(steps) if value < s.t_weight]
    return (below[-1] if below else 0), True


def _back(s: Sides, index: int, count: int) -> int:
    """Where drifted weights go: the current step, unless that gives more traffic to a side
    not healthy at capacity; then the step below the weights, or 0, or where they are."""
    value = steps_of(s)[index]
    if value > s.t_weight and not ready(s.t, count):
        below = [v for v in steps_of(s) if v < s.t_weight]
        value = below[-1] if below else 0
    if value < s.t_weight and not ready(s.p, need(s.state, s.p)):
        return s.t_weight
    return value


def _holding(s: Sides, index: int, since: float, count: int) -> str:
    """Why the gate does not open yet, or "" when it does."""
    analysis = s.state.analysis
    if s.state.now - since < s.state.step_pause:
        return f"pausing until {clock(since + s.state.step_pause)}"
    if analysis is None and s.state.judged:
        return "no analysis yet"
    if analysis is not None and analysis.verdict is not Verdict.PASS:
        return f"analysis {analysis.verdict.value.lower()} ({analysis.message})"
    if not ready(s.t, count):
        return f"not healthy at capacity: {readiness(s.t, count)}"
    return ""


def _advanced(s: Sides, index: int, moves: list[Move]) -> BlueGreenDecision:
    nxt = index + 1
    value = _value(s, nxt)
    moves.append(MarkSide(s.t.color, {TAG_BG_STEP: step_value(nxt, s.state.now)}, "next step"))
    moves.append(weights(s.t.color, value, f"analysis passed at {s.t_weight}%"))
    return decided(
        s,
        Phase.PROGRESSING,
        Stage.STEPPING,
        moves,
        f"{s.t.color} takes {value}% ({_of(s, nxt)}), {s.p.color} {100 - value}%",
        _advance_at(s, nxt, s.state.now),
        step=nxt,
    )


def _hold(
    s: Sides, index: int, moves: list[Move], why: str, value: int | None = None
) -> BlueGreenDecision:
    """No advance: ``value`` is the target's weight once ``moves`` are applied."""
    value = s.t_weight if value is None else value
    return decided(
        s,
        Phase.PROGRESSING,
        Stage.STEPPING,
        moves,
        f"{s.t.color} takes {value}% ({_of(s, index)}), {s.p.color} {100 - value}%",
        f"holding at {value}%: {why}",
        step=index,
    )


def fail_back(s: Sides, reason: str) -> BlueGreenDecision:
    """Detection to flip in one tick: the failure, all traffic back, the target retired."""
    t = s.t.color
    return flips.back_to_other(
        s,
        Phase.FAILED,
        Stage.FAILED,
        f"the analysis failed {t} at {s.t_weight}% ({reason})",
        first=(FailSide(t, reason),),
        then=(flips.retire(s, s.t),),
    )


def _value(s: Sides, index: int) -> int:
    steps = steps_of(s)
    return steps[index] if index < len(steps) else 100


def _of(s: Sides, index: int) -> str:
    return f"step {index + 1} of {len(steps_of(s))}"


def _advance_at(s: Sides, index: int, since: float) -> str:
    if _value(s, index) >= 100:
        return f"{s.t.color} is verified and {s.p.color} retired"
    at = clock(since + s.state.step_pause)
    return f"{s.t.color} to {_value(s, index + 1)}% at {at} if the analysis passes"
