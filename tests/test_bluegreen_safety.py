"""pipeline.bluegreen.decide over a grid of states: the safe options hold whatever the state.

No traffic onto a side that is not healthy at capacity, weights that add up to 100, and a
failed revision never retried."""

from __future__ import annotations

import dataclasses
import itertools

from reconciler.model import (
    TAG_BG_STEP,
    BlueGreenDecision,
    BlueGreenState,
    Color,
    FailSide,
    MarkSide,
    PinSide,
    ScaleSide,
    SetWeights,
    SideMarks,
    Verdict,
)
from reconciler.pipeline.bluegreen import (
    decide,
    need,
    ready,
)
from reconciler.pipeline.bluegreen.sides import percent, sides
from tests.bluegreen_states import (
    BLUE,
    FP,
    GREEN,
    NOW,
    OLD,
    side,
    state,
    verdict,
)

MARKS = [
    SideMarks(),
    SideMarks(verified=FP),
    SideMarks(verified=OLD, retired_at=NOW - 4000),
    SideMarks(step=1, step_at=NOW - 400),
    SideMarks(failed=FP),
]


def _grid() -> list[BlueGreenState]:
    found = []
    for (
        weight,
        runs,
        green_size,
        green_healthy,
        blue_healthy,
        marks,
        verdict_,
        other,
    ) in itertools.product(
        (0, 10, 30, 50, 90, 100),
        ((False, True), (True, False), (True, True), (False, False)),
        (2, 4),
        (0, 1, 2),
        (0, 2),
        itertools.product(MARKS, MARKS[:3]),
        (None, Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE),
        (0, 1),
    ):
        blue = side(BLUE, runs_desired=runs[0], weight=100 - weight, healthy=blue_healthy)
        green = side(
            GREEN,
            runs_desired=runs[1],
            weight=weight,
            desired=green_size,
            instances=green_size,
            healthy=green_healthy,
            other_instances=other,
            marks=marks[0],
        )
        analysis = verdict(verdict_) if verdict_ is not None else None
        blue = dataclasses.replace(blue, marks=marks[1])
        found.append(state(blue, green, analysis=analysis))
    return found


DECIDED = [(s, decide(s)) for s in _grid()]


def _weights(s: BlueGreenState, color: Color, decision: BlueGreenDecision) -> tuple[int, int]:
    """``color``'s percent before the decision and once its moves are applied."""
    blue_before = percent(s)
    assert blue_before is not None
    before = blue_before[0] if color is BLUE else blue_before[1]
    written = [m for m in decision.moves if isinstance(m, SetWeights)]
    if not written:
        return before, before
    return before, written[-1].blue if color is BLUE else written[-1].green


def test_grid_is_large() -> None:
    assert len(DECIDED) > 30_000


def test_no_traffic_onto_a_side_not_healthy_at_capacity() -> None:
    """Weights add up to 100, so this is also: no traffic taken from a side to give it to one
    that cannot serve it."""
    for s, decision in DECIDED:
        for color in Color:
            before, after = _weights(s, color, decision)
            if after > before:
                gaining, losing = s.side(color), s.side(color.other)
                count = min(need(s, gaining), need(s, losing))
                assert ready(gaining, count), (s, decision)


def test_weights_always_add_up_to_100() -> None:
    for _, decision in DECIDED:
        for move in decision.moves:
            if isinstance(move, SetWeights):
                assert move.blue + move.green == 100 and min(move.blue, move.green) >= 0


def test_a_failed_revision_is_never_retried() -> None:
    for s, decision in DECIDED:
        blue_percent = percent(s)
        assert blue_percent is not None
        target = sides(s, blue_percent[0]).t
        if target.marks.failed != FP:
            continue
        before, after = _weights(s, target.color, decision)
        assert after <= before, (s, decision)
        for move in decision.moves:
            if isinstance(move, SetWeights) or move.color is not target.color:
                continue
            assert not isinstance(move, PinSide)
            assert not (isinstance(move, MarkSide) and TAG_BG_STEP in move.tags)
            assert not (isinstance(move, ScaleSide) and move.desired > target.desired)


def test_every_decision_says_something() -> None:
    for _, decision in DECIDED:
        assert decision.message and decision.live in (BLUE, GREEN, None)
        assert all(m.reason for m in decision.moves if not isinstance(m, FailSide))
