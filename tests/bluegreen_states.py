"""Blue/green states as plain data for the decision's tests, and its moves as comparable tuples.

The baseline is a service between releases: blue takes all traffic on the old revision
(verified there), green is idle at 0. A case changes what its rule reads.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model import (
    TAG_BG_RETIRED,
    TAG_BG_STEP,
    AnalysisResult,
    BlueGreenDecision,
    BlueGreenState,
    Color,
    FailSide,
    MarkSide,
    Move,
    Phase,
    PinSide,
    ScaleSide,
    SetWeights,
    SideMarks,
    SideView,
    Stage,
    Verdict,
)
from reconciler.pipeline.bluegreen import (
    decide,
)

NOW = 10_000.0
FP = "f00d"  # the desired revision's fingerprint
OLD = "0ld1"  # the revision blue ran before
BLUE, GREEN = Color.BLUE, Color.GREEN


# A side pinned to the desired revision was tagged with its rollout when it was pinned.
PINNED = SideMarks(rollout_fingerprint=FP, rollout_at=NOW - 2000)


def side(color: Color, **changes: Any) -> SideView:
    """Blue: live at 100% on the old revision, 2 healthy, verified; green: idle at 0."""
    live = color is BLUE
    idle = PINNED if changes.get("runs_desired") else SideMarks()
    marks = changes.pop("marks", SideMarks(verified=OLD) if live else idle)
    count = 2 if live else 0
    base = SideView(
        color=color,
        group=f"{color}-asg",
        target_group_arn=f"arn:{color}-tg",
        version=1,
        runs_desired=False,
        desired=count,
        min_size=2 if live else 0,
        max_size=6,
        instances=count,
        other_instances=0,
        healthy=count,
        weight=100 if live else 0,
        marks=marks,
    )
    return dataclasses.replace(base, **changes)


def ready_side(color: Color, n: int = 2, **changes: Any) -> SideView:
    """A side on the desired revision with ``n`` healthy instances."""
    fields: dict[str, Any] = {"runs_desired": True, "version": 7, "desired": n, "instances": n}
    fields |= {"healthy": n}
    return side(color, **(fields | changes))


def state(
    blue: SideView | None = None, green: SideView | None = None, **changes: Any
) -> BlueGreenState:
    base = BlueGreenState(
        fingerprint=FP,
        desired_version=7,
        blue=blue or side(BLUE),
        green=green or side(GREEN),
        now=NOW,
        steps=(10, 50, 100),
        step_pause=300,
        scale_down_delay=3600,
        warm_standby=0,
        min_size=2,
        max_size=6,
    )
    return dataclasses.replace(base, **changes)


def verdict(v: Verdict, message: str = "") -> AnalysisResult:
    return AnalysisResult(verdict=v, signals=(), message=message or f"analysis {v.value}")


PASS = verdict(Verdict.PASS)
FAIL = verdict(Verdict.FAIL, "5xx rate 31% over 2 samples (limit 5%)")


def stepping(green_weight: int, step: int | None, at: float | None, **green: Any) -> BlueGreenState:
    """Green on the desired revision at ``green_weight``, tagged at step ``step`` since ``at``."""
    marks = SideMarks(rollout_fingerprint=FP, rollout_at=NOW - 2000, step=step, step_at=at)
    analysis = green.pop("analysis", PASS)
    g = ready_side(GREEN, weight=green_weight, marks=marks, **green)
    return state(side(BLUE, weight=100 - green_weight), g, analysis=analysis)


def shape(move: Move) -> tuple[Any, ...]:
    """A move without its reason, for comparison."""
    if isinstance(move, SetWeights):
        return ("weights", move.blue, move.green)
    if isinstance(move, ScaleSide):
        return ("scale", move.color, move.desired, move.min_size, move.max_size)
    if isinstance(move, PinSide):
        return ("pin", move.color, move.version)
    if isinstance(move, MarkSide):
        return ("mark", move.color, dict(move.tags))
    assert isinstance(move, FailSide)
    return ("fail", move.color)


def shapes(decision: BlueGreenDecision) -> list[tuple[Any, ...]]:
    return [shape(m) for m in decision.moves]


def at(epoch: float) -> str:
    return str(int(epoch))


def step_tag(index: int) -> dict[str, str]:
    return {TAG_BG_STEP: f"{index}@{at(NOW)}"}


RETIRED_NOW = {TAG_BG_RETIRED: at(NOW)}
VERIFIED = SideMarks(verified=FP)  # the side ran the desired revision to 100%
WAITING = SideMarks(verified=OLD, retired_at=NOW - 100)  # blue, after green took 100%


def case(
    s: BlueGreenState,
    moves: list[tuple[Any, ...]],
    phase: Phase,
    stage: Stage,
    live: Color | None,
    id: str,
    step: int | None = None,
) -> Any:
    return pytest.param(s, moves, phase, stage, live, step, id=id)


def check(
    s: BlueGreenState,
    moves: list[tuple[Any, ...]],
    phase: Phase,
    stage: Stage,
    live: Color | None,
    step: int | None,
) -> None:
    """decide(s) makes exactly ``moves`` and lands in ``phase``/``stage`` with ``live``."""
    decision = decide(s)
    assert shapes(decision) == moves, decision.message
    assert (decision.phase, decision.stage, decision.live) == (phase, stage, live), decision.message
    if step is not None:
        assert decision.step == step
    assert decision.message
    assert decide(s) == decision  # pure: the same state decides the same
