"""pipeline.bluegreen: the pure decision of a blue/green rollout, on plain-data states.

The baseline is a service between releases: blue takes all traffic on the old revision (verified
there), green is idle at 0. Each case changes what its rule reads and checks the moves, the
phase, the stage and which side is live.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from reconciler.model import (
    TAG_BG_RETIRED,
    TAG_BG_ROLLOUT,
    TAG_BG_STEP,
    TAG_BG_VERIFIED,
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
    describe_plan,
    marks_of,
    need,
    ready,
    tag_values,
)
from reconciler.pipeline.bluegreen.sides import percent, sides

NOW = 10_000.0
FP = "f00d"  # the desired revision's fingerprint
OLD = "0ld1"  # the revision blue ran before
BLUE, GREEN = Color.BLUE, Color.GREEN


def side(color: Color, **changes: Any) -> SideView:
    """Blue: live at 100% on the old revision, 2 healthy, verified; green: idle at 0."""
    live = color is BLUE
    marks = changes.pop("marks", SideMarks(verified=OLD) if live else SideMarks())
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


ROLLOUT_TAGS = {TAG_BG_ROLLOUT: f"{FP}@{at(NOW)}", TAG_BG_STEP: "", TAG_BG_VERIFIED: ""}
PREPARED = [("mark", GREEN, ROLLOUT_TAGS), ("pin", GREEN, 7)]
GREEN_WAS = SideMarks(verified=FP, retired_at=NOW - 500)  # green ran FP to 100% before

# A2: the idle side does not run the desired revision yet.
PREPARE = [
    case(
        state(),
        [*PREPARED, ("scale", GREEN, 2, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-fresh",
    ),
    case(
        state(desired_version=None),
        [("mark", GREEN, ROLLOUT_TAGS), ("pin", GREEN, "$New"), ("scale", GREEN, 2, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-version-to-create",
    ),
    case(
        state(green=side(GREEN, desired=1, instances=1, healthy=1)),
        [*PREPARED, ("scale", GREEN, 0, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-old-standby-drained-first",
    ),
    case(
        state(green=side(GREEN, desired=2, other_instances=2)),
        [*PREPARED, ("scale", GREEN, 0, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-other-versions-drained-first",
    ),
    case(
        state(green=side(GREEN, other_instances=1)),
        PREPARED,
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-draining-already-at-0",
    ),
    case(
        state(blue=side(BLUE, desired=5, instances=5, healthy=5)),
        [*PREPARED, ("scale", GREEN, 5, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-follows-blue-current-capacity",
    ),
    case(
        state(blue=side(BLUE, desired=1, min_size=1, instances=1, healthy=1)),
        [*PREPARED, ("scale", GREEN, 2, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-at-least-spec-min-size",
    ),
    case(
        state(blue=side(BLUE, desired=1, min_size=0, instances=1, healthy=1), min_size=0),
        [*PREPARED, ("scale", GREEN, 1, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-at-least-one",
    ),
    case(
        state(blue=side(BLUE, desired=9, max_size=9, instances=9, healthy=9)),
        [*PREPARED, ("scale", GREEN, 6, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-at-most-spec-max-size",
    ),
    case(
        state(
            side(BLUE, weight=0, marks=SideMarks()),
            side(
                GREEN,
                weight=100,
                marks=SideMarks(verified=OLD),
                desired=2,
                min_size=2,
                instances=2,
                healthy=2,
            ),
        ),
        [("mark", BLUE, ROLLOUT_TAGS), ("pin", BLUE, 7), ("scale", BLUE, 0, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        GREEN,
        "a2-green-live-blue-idle-with-old-instances",
    ),
]

# A1: a newer commit while the target takes part of the traffic.
SUPERSEDED = [
    case(
        state(
            side(BLUE, weight=90),
            side(GREEN, weight=10, desired=2, instances=2, healthy=2, version=5),
        ),
        [("weights", 100, 0)],
        Phase.PROGRESSING,
        Stage.FLIPPING,
        BLUE,
        "a1-back-to-blue",
    ),
    case(
        state(
            side(BLUE, weight=50),
            side(GREEN, weight=50, desired=2, instances=2, healthy=2, version=5),
        ),
        [("weights", 100, 0)],
        Phase.PROGRESSING,
        Stage.FLIPPING,
        BLUE,
        "a1-tie-unverified-side-is-target",
    ),
    case(
        state(
            side(BLUE, weight=90, healthy=1),
            side(GREEN, weight=10, desired=2, instances=2, healthy=2, version=5),
        ),
        [],
        Phase.PROGRESSING,
        Stage.RESTORING,
        BLUE,
        "a1-blue-unhealthy-weights-stay",
    ),
    case(
        state(
            side(BLUE, weight=90),
            side(GREEN, weight=10, desired=4, instances=4, healthy=4, version=5),
        ),
        [("scale", BLUE, 4, 2, 6)],
        Phase.PROGRESSING,
        Stage.RESTORING,
        BLUE,
        "a1-blue-scaled-up-first",
    ),
    case(
        state(
            side(BLUE, weight=90, version=None),
            side(GREEN, weight=10, desired=2, instances=2, healthy=2, version=5),
        ),
        [],
        Phase.BLOCKED,
        Stage.BLOCKED,
        BLUE,
        "a1-no-previous-revision",
    ),
]

# B3: the target runs the desired revision and takes no traffic.
IDLE = [
    case(
        state(green=side(GREEN, runs_desired=True, version=7)),
        [("scale", GREEN, 2, 0, 6)],
        Phase.PROGRESSING,
        Stage.PREPARING,
        BLUE,
        "b3-scale-to-blue-capacity",
    ),
    case(
        state(green=ready_side(GREEN, healthy=1)),
        [],
        Phase.PROGRESSING,
        Stage.WARMING,
        BLUE,
        "b3-warming",
    ),
    case(
        state(green=ready_side(GREEN, instances=1, healthy=1)),
        [],
        Phase.PROGRESSING,
        Stage.WARMING,
        BLUE,
        "b3-warming-launching",
    ),
    case(
        state(green=ready_side(GREEN)),
        [("mark", GREEN, step_tag(0)), ("weights", 90, 10)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b3-first-step",
        step=0,
    ),
    case(
        state(green=ready_side(GREEN), steps=(100,)),
        [("mark", GREEN, step_tag(0)), ("weights", 0, 100)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        GREEN,
        "b3-single-step",
        step=0,
    ),
    case(
        state(green=ready_side(GREEN), steps=(60, 100)),
        [("mark", GREEN, step_tag(0)), ("weights", 40, 60)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        GREEN,
        "b3-first-step-majority",
        step=0,
    ),
    case(
        state(green=ready_side(GREEN), analysis=FAIL),
        [("fail", GREEN), ("scale", GREEN, 0, 0, 6)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "b3-analysis-fail-never-gets-traffic",
    ),
    case(
        state(green=ready_side(GREEN, healthy=0), analysis=FAIL, warm_standby=1),
        [("fail", GREEN), ("scale", GREEN, 1, 0, 6)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "b3-fail-to-warm-standby",
    ),
    case(
        state(green=ready_side(GREEN), analysis=verdict(Verdict.PENDING)),
        [("mark", GREEN, step_tag(0)), ("weights", 90, 10)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b3-pending-analysis-does-not-stop-first-step",
        step=0,
    ),
    case(
        state(green=ready_side(GREEN, other_instances=1)),
        [("scale", GREEN, 0, 0, 6)],
        Phase.PROGRESSING,
        Stage.PREPARING,
        BLUE,
        "b3-other-versions-drained",
    ),
    case(
        state(green=ready_side(GREEN, 0, other_instances=1)),
        [],
        Phase.PROGRESSING,
        Stage.PREPARING,
        BLUE,
        "b3-drain-waits",
    ),
    case(
        state(side(BLUE, desired=4, instances=4, healthy=4), ready_side(GREEN)),
        [("scale", GREEN, 4, 0, 6)],
        Phase.PROGRESSING,
        Stage.PREPARING,
        BLUE,
        "b3-autoscaler-grew-blue",
    ),
    case(
        state(side(BLUE, desired=4, instances=4, healthy=4), ready_side(GREEN, 4)),
        [("mark", GREEN, step_tag(0)), ("weights", 90, 10)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b3-ready-at-grown-capacity",
        step=0,
    ),
    # Revert: green ran FP to 100% and was retired; blue runs a newer revision at 100%.
    case(
        state(
            side(BLUE, marks=SideMarks(verified="cafe")),
            side(GREEN, runs_desired=True, version=7, marks=GREEN_WAS),
        ),
        [("scale", GREEN, 2, 0, 6)],
        Phase.PROGRESSING,
        Stage.RESTORING,
        BLUE,
        "b3-revert-scales-green-up",
    ),
    case(
        state(
            side(BLUE, marks=SideMarks(verified="cafe")),
            ready_side(GREEN, healthy=1, marks=GREEN_WAS),
        ),
        [],
        Phase.PROGRESSING,
        Stage.RESTORING,
        BLUE,
        "b3-revert-waits-for-health",
    ),
    case(
        state(side(BLUE, marks=SideMarks(verified="cafe")), ready_side(GREEN, marks=GREEN_WAS)),
        [("weights", 0, 100), ("mark", BLUE, RETIRED_NOW)],
        Phase.PROGRESSING,
        Stage.FLIPPING,
        GREEN,
        "b3-revert-flips-at-once",
    ),
]

PAUSED = NOW - 300  # a step tagged this long ago has waited out the pause
BLUE_REVERTED = SideMarks(verified=FP)  # blue ran FP to 100%; green took a later revision

# B2: stepping, gated.
STEPPING = [
    case(
        stepping(10, 0, NOW - 100),
        [],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-pausing",
        step=0,
    ),
    case(
        stepping(10, 0, PAUSED),
        [("mark", GREEN, step_tag(1)), ("weights", 50, 50)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-advance-to-50",
        step=1,
    ),
    case(
        stepping(50, 1, PAUSED),
        [("mark", GREEN, step_tag(2)), ("weights", 0, 100)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        GREEN,
        "b2-advance-to-100",
        step=2,
    ),
    case(
        stepping(10, 0, PAUSED, analysis=verdict(Verdict.INCONCLUSIVE, "12 requests (< 50)")),
        [],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-inconclusive-holds",
        step=0,
    ),
    case(
        stepping(10, 0, PAUSED, analysis=verdict(Verdict.PENDING)),
        [],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-pending-holds",
        step=0,
    ),
    case(
        stepping(10, 0, PAUSED, analysis=None),
        [],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-no-analysis-holds",
        step=0,
    ),
    case(
        stepping(10, 0, PAUSED, healthy=1),
        [],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-unhealthy-holds",
        step=0,
    ),
    case(
        stepping(10, 0, PAUSED, other_instances=1),
        [],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-other-versions-hold",
        step=0,
    ),
    case(
        stepping(10, 0, PAUSED - 10_000),
        [("mark", GREEN, step_tag(1)), ("weights", 50, 50)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-long-paused-advances-one-step",
        step=1,
    ),
    case(
        stepping(10, 0, NOW - 100, analysis=FAIL),
        [("fail", GREEN), ("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "b2-fail-flips-back-in-one-tick",
    ),
    case(
        stepping(50, 1, PAUSED, analysis=FAIL),
        [("fail", GREEN), ("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "b2-fail-at-50",
    ),
    case(
        dataclasses.replace(
            stepping(10, 0, PAUSED, analysis=FAIL), blue=side(BLUE, weight=90, healthy=1)
        ),
        [("fail", GREEN)],
        Phase.FAILED,
        Stage.RESTORING,
        BLUE,
        "b2-fail-blue-unhealthy-keeps-weights",
    ),
    # Crash between the step tag and the weights, either way round.
    case(
        stepping(50, 0, NOW - 1000),
        [("mark", GREEN, step_tag(1))],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-crash-weights-written-tag-old",
        step=1,
    ),
    case(
        stepping(10, 1, NOW - 5),
        [("mark", GREEN, step_tag(0))],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-crash-tag-written-weights-not",
        step=0,
    ),
    case(
        stepping(10, None, None),
        [("mark", GREEN, step_tag(0))],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-tag-missing-pause-restarts",
        step=0,
    ),
    # Drift: weights that are no step value.
    case(
        stepping(30, 1, PAUSED),
        [("weights", 50, 50)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-drift-back-to-tagged-step",
        step=1,
    ),
    case(
        stepping(30, None, None),
        [("weights", 90, 10)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-drift-untagged-step-below",
        step=0,
    ),
    case(
        stepping(70, 7, PAUSED),
        [("weights", 50, 50)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-drift-tag-out-of-range",
        step=1,
    ),
    case(
        stepping(5, None, None),
        [("weights", 90, 10)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-drift-below-first-step",
        step=0,
    ),
    case(
        stepping(30, 1, PAUSED, healthy=1),
        [("weights", 90, 10)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-drift-no-more-traffic-to-unready",
        step=1,
    ),
    case(
        stepping(5, None, None, healthy=1),
        [("weights", 100, 0)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-drift-unready-below-first-step-to-0",
        step=0,
    ),
    case(
        dataclasses.replace(
            stepping(10, 0, PAUSED),
            blue=side(BLUE, weight=450),
            green=ready_side(GREEN, weight=50, marks=SideMarks(step=0, step_at=PAUSED)),
        ),
        [("mark", GREEN, step_tag(1)), ("weights", 50, 50)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-off-scale-total-read-as-percent",
        step=1,
    ),
    case(
        dataclasses.replace(
            stepping(10, 0, NOW - 5),
            blue=side(BLUE, weight=451),
            green=ready_side(GREEN, weight=49, marks=SideMarks(step=0, step_at=NOW - 5)),
        ),
        [("weights", 90, 10)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-off-scale-total-written-back",
        step=0,
    ),
    case(
        dataclasses.replace(
            stepping(30, 1, PAUSED, healthy=1), blue=side(BLUE, weight=70, healthy=1)
        ),
        [],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-drift-left-when-neither-side-can-take-more",
        step=1,
    ),
    # The autoscaler changes blue's capacity mid-rollout: green follows.
    case(
        dataclasses.replace(
            stepping(10, 0, PAUSED), blue=side(BLUE, weight=90, desired=4, instances=4, healthy=4)
        ),
        [("scale", GREEN, 4, 0, 6)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-blue-grew-green-follows-holds",
        step=0,
    ),
    case(
        dataclasses.replace(
            stepping(10, 0, PAUSED),
            min_size=1,
            blue=side(BLUE, weight=90, desired=1, min_size=1, instances=1, healthy=1),
        ),
        [("scale", GREEN, 1, 0, 6), ("mark", GREEN, step_tag(1)), ("weights", 50, 50)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-blue-shrank-green-follows-advances",
        step=1,
    ),
    case(
        dataclasses.replace(
            stepping(10, 0, NOW - 10), blue=side(BLUE, weight=90, desired=3, instances=3, healthy=3)
        ),
        [("scale", GREEN, 3, 0, 6)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-follow-while-pausing",
        step=0,
    ),
    # Revert during a step: blue ran FP before and still has the majority.
    case(
        state(
            ready_side(BLUE, weight=90, marks=BLUE_REVERTED),
            side(GREEN, weight=10, version=8, desired=2, instances=2, healthy=2),
        ),
        [("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)],
        Phase.PROGRESSING,
        Stage.FLIPPING,
        BLUE,
        "b2-revert-flips-at-once",
    ),
    case(
        state(
            ready_side(BLUE, weight=50, marks=BLUE_REVERTED),
            side(GREEN, weight=50, version=8, desired=2, instances=2, healthy=2),
        ),
        [("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)],
        Phase.PROGRESSING,
        Stage.FLIPPING,
        BLUE,
        "b2-revert-at-50",
    ),
    case(
        state(
            ready_side(BLUE, weight=90, healthy=1, marks=BLUE_REVERTED),
            side(GREEN, weight=10, version=8, desired=2, instances=2, healthy=2),
        ),
        [],
        Phase.PROGRESSING,
        Stage.RESTORING,
        BLUE,
        "b2-revert-waits-for-blue-health",
    ),
]

GREEN_LIVE = {"weight": 100, "min_size": 2}
VERIFIED = SideMarks(verified=FP)
WAITING = SideMarks(verified=OLD, retired_at=NOW - 100)
DONE = [("mark", GREEN, {TAG_BG_VERIFIED: FP, TAG_BG_STEP: ""})]


def at_100(
    blue: SideView | None = None, green_marks: SideMarks = VERIFIED, **changes: Any
) -> BlueGreenState:
    """Green took 100% of the traffic on the desired revision; blue had it before."""
    green = ready_side(GREEN, **(GREEN_LIVE | {"marks": green_marks}))
    return state(blue or side(BLUE, weight=0, marks=WAITING), green, **changes)


# B1: the target takes all traffic.
STEADY = [
    case(
        at_100(side(BLUE, weight=0), SideMarks(step=2, step_at=NOW - 10)),
        [*DONE, ("mark", BLUE, RETIRED_NOW)],
        Phase.PROGRESSING,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-rollout-completes",
    ),
    case(
        at_100(green_marks=SideMarks(step=2, step_at=NOW - 10)),
        DONE,
        Phase.PROGRESSING,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-completes-blue-already-retired",
    ),
    case(
        state(
            side(BLUE, weight=0),
            ready_side(GREEN, weight=100, marks=SideMarks(step=2, step_at=NOW)),
        ),
        [*DONE, ("mark", BLUE, RETIRED_NOW), ("scale", GREEN, 2, 2, 6)],
        Phase.PROGRESSING,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-live-side-gets-spec-min-size",
    ),
    case(at_100(), [], Phase.IN_SYNC, Stage.SCALING_DOWN, GREEN, "b1-waiting-out-the-delay"),
    case(
        at_100(side(BLUE, weight=0, marks=SideMarks(verified=OLD, retired_at=NOW - 3600))),
        [("scale", BLUE, 0, 0, 6)],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-delay-over-scale-down",
    ),
    case(
        at_100(
            side(BLUE, weight=0, marks=SideMarks(verified=OLD, retired_at=NOW - 3600)),
            warm_standby=1,
        ),
        [("scale", BLUE, 1, 0, 6)],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-scale-down-to-warm-standby",
    ),
    case(
        at_100(side(BLUE, weight=0, desired=0, min_size=0, instances=0, healthy=0, marks=WAITING)),
        [],
        Phase.IN_SYNC,
        Stage.STEADY,
        GREEN,
        "b1-steady",
    ),
    case(
        at_100(
            side(BLUE, weight=0, desired=1, min_size=0, instances=1, healthy=1, marks=WAITING),
            warm_standby=1,
        ),
        [],
        Phase.IN_SYNC,
        Stage.STEADY,
        GREEN,
        "b1-steady-at-warm-standby",
    ),
    case(
        at_100(side(BLUE, weight=0, marks=SideMarks(verified=OLD, failed=OLD, retired_at=NOW))),
        [("scale", BLUE, 0, 0, 6)],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-failed-blue-down-at-once",
    ),
    case(
        at_100(side(BLUE, weight=0, marks=SideMarks(retired_at=NOW))),
        [("scale", BLUE, 0, 0, 6)],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-unverified-blue-down-at-once",
    ),
    case(
        at_100(side(BLUE, weight=0, marks=SideMarks(verified=OLD))),
        [("mark", BLUE, RETIRED_NOW)],
        Phase.PROGRESSING,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-retired-tag-lost-delay-restarts",
    ),
    case(
        state(
            side(BLUE, weight=0, marks=WAITING), ready_side(GREEN, 4, **GREEN_LIVE, marks=VERIFIED)
        ),
        [("scale", BLUE, 4, 2, 6)],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-blue-follows-green-while-warm",
    ),
    case(
        state(
            side(BLUE, weight=0, marks=WAITING), ready_side(GREEN, 1, **GREEN_LIVE, marks=VERIFIED)
        ),
        [("scale", GREEN, 2, 2, 6)],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-live-below-min-raised",
    ),
    case(
        dataclasses.replace(
            at_100(),
            blue=side(BLUE, weight=0, marks=WAITING),
            green=ready_side(GREEN, weight=999, min_size=2, marks=VERIFIED),
        ),
        [],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-off-scale-all-on-green-is-100",
    ),
    case(
        dataclasses.replace(
            at_100(),
            blue=side(BLUE, weight=1, marks=WAITING),
            green=ready_side(GREEN, weight=999, min_size=2, marks=VERIFIED),
        ),
        [("weights", 0, 100)],
        Phase.OUT_OF_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-off-scale-rounded-written-back",
    ),
]

GREEN_FAILED = SideMarks(rollout_fingerprint=FP, rollout_at=NOW - 900, failed=FP)

# F: the desired revision failed on the target; never retried.
FAILED = [
    case(
        state(side(BLUE, weight=90), ready_side(GREEN, weight=10, marks=GREEN_FAILED)),
        [("weights", 100, 0)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "f1-flip-back",
    ),
    case(
        state(
            side(BLUE, weight=0, marks=WAITING), ready_side(GREEN, weight=100, marks=GREEN_FAILED)
        ),
        [("weights", 100, 0)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "f1-flip-back-from-100",
    ),
    case(
        state(
            side(BLUE, weight=0, desired=0, min_size=0, instances=0, healthy=0, marks=WAITING),
            ready_side(GREEN, 3, weight=100, marks=GREEN_FAILED),
        ),
        [("scale", BLUE, 3, 2, 6)],
        Phase.FAILED,
        Stage.RESTORING,
        GREEN,
        "f1-blue-scaled-down-restore-first",
    ),
    case(
        state(
            side(BLUE, weight=0, desired=3, min_size=2, instances=3, healthy=1, marks=WAITING),
            ready_side(GREEN, 3, weight=100, marks=GREEN_FAILED),
        ),
        [],
        Phase.FAILED,
        Stage.RESTORING,
        GREEN,
        "f1-blue-warming-weights-stay",
    ),
    case(
        state(
            side(BLUE, weight=90, version=None), ready_side(GREEN, weight=10, marks=GREEN_FAILED)
        ),
        [],
        Phase.BLOCKED,
        Stage.BLOCKED,
        BLUE,
        "f1-no-previous-revision",
    ),
    case(
        state(side(BLUE), ready_side(GREEN, marks=GREEN_FAILED)),
        [("scale", GREEN, 0, 0, 6)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "f2-scale-failed-side-down",
    ),
    case(
        state(side(BLUE), ready_side(GREEN, marks=GREEN_FAILED), warm_standby=1),
        [("scale", GREEN, 1, 0, 6)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "f2-to-warm-standby",
    ),
    case(
        state(side(BLUE), ready_side(GREEN, 0, marks=GREEN_FAILED)),
        [],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "f2-already-down",
    ),
    case(
        state(side(BLUE), side(GREEN, marks=GREEN_FAILED)),
        [],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "f2-failed-not-pinned-again",
    ),
    case(
        state(side(BLUE), ready_side(GREEN, marks=GREEN_FAILED), analysis=PASS),
        [("scale", GREEN, 0, 0, 6)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "f2-a-pass-does-not-retry",
    ),
]

# Both weights 0: nothing reaches either side.
UNREACHABLE = [
    case(
        state(side(BLUE, weight=0), side(GREEN)),
        [],
        Phase.BLOCKED,
        Stage.BLOCKED,
        None,
        "zero-no-tags",
    ),
    case(
        state(side(BLUE, weight=0), ready_side(GREEN, marks=SideMarks(step=1, step_at=NOW - 50))),
        [("weights", 50, 50)],
        Phase.BLOCKED,
        Stage.BLOCKED,
        BLUE,
        "zero-restore-step",
    ),
    case(
        state(
            side(BLUE, weight=0, marks=SideMarks(verified=OLD, retired_at=NOW - 9)),
            ready_side(GREEN, marks=VERIFIED),
        ),
        [("weights", 0, 100)],
        Phase.BLOCKED,
        Stage.BLOCKED,
        GREEN,
        "zero-restore-the-unretired-side",
    ),
    case(
        state(
            side(BLUE, weight=0),
            ready_side(GREEN, healthy=1, marks=SideMarks(step=1, step_at=NOW - 50)),
        ),
        [],
        Phase.BLOCKED,
        Stage.BLOCKED,
        None,
        "zero-restore-onto-unready-refused",
    ),
    case(
        state(
            side(BLUE, weight=0, marks=SideMarks(retired_at=1.0)),
            side(GREEN, marks=SideMarks(retired_at=2.0)),
        ),
        [],
        Phase.BLOCKED,
        Stage.BLOCKED,
        None,
        "zero-both-retired",
    ),
]


@pytest.mark.parametrize(
    ("s", "moves", "phase", "stage", "live", "step"),
    PREPARE + SUPERSEDED + IDLE + STEPPING + STEADY + FAILED + UNREACHABLE,
)
def test_decide(
    s: BlueGreenState,
    moves: list[tuple[Any, ...]],
    phase: Phase,
    stage: Stage,
    live: Color | None,
    step: int | None,
) -> None:
    decision = decide(s)
    assert shapes(decision) == moves, decision.message
    assert (decision.phase, decision.stage, decision.live) == (phase, stage, live), decision.message
    if step is not None:
        assert decision.step == step
    assert decision.message
    assert decide(s) == decision  # pure: the same state decides the same


# ------------------------------------------------------------------------------------------------
# The tags: read back what is written; junk reads as None, never raises
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "marks",
    [
        SideMarks(),
        SideMarks(rollout_fingerprint=FP, rollout_at=NOW, step=2, step_at=NOW + 1, verified=OLD),
        SideMarks(retired_at=NOW),
        SideMarks(rollout_fingerprint="a@b", rollout_at=1.5, step=0, step_at=0.0),
        SideMarks(retired_at=1700000000.125),
    ],
)
def test_tags_read_back(marks: SideMarks) -> None:
    assert marks_of(tag_values(marks), None) == marks


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({}, SideMarks()),
        ({TAG_BG_ROLLOUT: f"{FP}@100"}, SideMarks(rollout_fingerprint=FP, rollout_at=100.0)),
        ({TAG_BG_ROLLOUT: FP}, SideMarks()),
        ({TAG_BG_ROLLOUT: f"{FP}@soon"}, SideMarks()),
        ({TAG_BG_ROLLOUT: "@100"}, SideMarks()),
        ({TAG_BG_ROLLOUT: f"{FP}@-5"}, SideMarks()),
        ({TAG_BG_ROLLOUT: f"{FP}@nan"}, SideMarks()),
        ({TAG_BG_ROLLOUT: f"{FP}@inf"}, SideMarks()),
        ({TAG_BG_STEP: "1@200"}, SideMarks(step=1, step_at=200.0)),
        ({TAG_BG_STEP: "1@200.5"}, SideMarks(step=1, step_at=200.5)),
        ({TAG_BG_STEP: "1"}, SideMarks()),
        ({TAG_BG_STEP: "-1@200"}, SideMarks()),
        ({TAG_BG_STEP: "one@200"}, SideMarks()),
        ({TAG_BG_STEP: "1.5@200"}, SideMarks()),
        ({TAG_BG_STEP: "\u0661@200"}, SideMarks()),  # an Arabic-Indic digit: not ours
        ({TAG_BG_STEP: "1@"}, SideMarks()),
        ({TAG_BG_STEP: "1@2@3"}, SideMarks()),
        ({TAG_BG_STEP: ""}, SideMarks()),
        ({TAG_BG_VERIFIED: FP}, SideMarks(verified=FP)),
        ({TAG_BG_VERIFIED: "  "}, SideMarks()),
        ({TAG_BG_RETIRED: "300"}, SideMarks(retired_at=300.0)),
        ({TAG_BG_RETIRED: "yesterday"}, SideMarks()),
        ({TAG_BG_RETIRED: "1e400"}, SideMarks()),
        ({TAG_BG_RETIRED: ""}, SideMarks()),
        ({"Name": "x", TAG_BG_RETIRED: "7"}, SideMarks(retired_at=7.0)),
    ],
)
def test_marks_of(tags: dict[str, str], expected: SideMarks) -> None:
    assert marks_of(tags, None) == expected


@pytest.mark.parametrize(("failed", "expected"), [(None, None), ("", None), (FP, FP)])
def test_marks_of_failed(failed: str | None, expected: str | None) -> None:
    assert marks_of({}, failed).failed == expected


def test_tag_values_delete_unset_marks() -> None:
    assert tag_values(SideMarks(verified=FP)) == {
        TAG_BG_ROLLOUT: "",
        TAG_BG_STEP: "",
        TAG_BG_VERIFIED: FP,
        TAG_BG_RETIRED: "",
    }


# ------------------------------------------------------------------------------------------------
# Sides: which is the target, weights as percent, capacity and readiness
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listener", "expected"),
    [
        ((100, 0), (100, 0)),
        ((999, 0), (100, 0)),
        ((1, 3), (25, 75)),
        ((1, 2), (33, 67)),
        ((2, 1), (67, 33)),
        ((1, 7), (12, 88)),
        ((3, 997), (0, 100)),
        ((0, 0), None),
    ],
)
def test_percent(listener: tuple[int, int], expected: tuple[int, int] | None) -> None:
    s = state(side(BLUE, weight=listener[0]), side(GREEN, weight=listener[1]))
    assert percent(s) == expected


@pytest.mark.parametrize(
    ("blue_runs", "green_runs", "blue_weight", "blue_verified", "green_verified", "target"),
    [
        (True, False, 100, None, None, BLUE),
        (False, True, 100, None, None, GREEN),
        (True, True, 30, None, None, GREEN),
        (True, True, 70, None, None, BLUE),
        (True, True, 50, None, None, BLUE),
        (False, False, 100, OLD, None, GREEN),
        (False, False, 10, OLD, None, BLUE),
        (False, False, 50, OLD, None, GREEN),
        (False, False, 50, None, OLD, BLUE),
        (False, False, 50, OLD, OLD, GREEN),
        (False, False, 50, None, None, GREEN),
    ],
)
def test_target(
    blue_runs: bool,
    green_runs: bool,
    blue_weight: int,
    blue_verified: str | None,
    green_verified: str | None,
    target: Color,
) -> None:
    s = state(
        side(BLUE, runs_desired=blue_runs, weight=blue_weight, marks=_verified(blue_verified)),
        side(GREEN, runs_desired=green_runs, weight=100 - blue_weight),
    )
    s = dataclasses.replace(s, green=dataclasses.replace(s.green, marks=_verified(green_verified)))
    found = sides(s, blue_weight)
    assert (found.t.color, found.p.color) == (target, target.other)
    assert decide(s).target is target


def _verified(fingerprint: str | None) -> SideMarks:
    return SideMarks(verified=fingerprint)


@pytest.mark.parametrize(
    ("desired", "min_size", "max_size", "expected"),
    [(3, 2, 6, 3), (1, 2, 6, 2), (0, 0, 6, 1), (9, 2, 6, 6), (0, 0, 0, 1)],
)
def test_need(desired: int, min_size: int, max_size: int, expected: int) -> None:
    s = state(min_size=min_size, max_size=max_size)
    assert need(s, side(BLUE, desired=desired)) == expected


@pytest.mark.parametrize(
    ("healthy", "instances", "other", "count", "expected"),
    [
        (2, 2, 0, 2, True),
        (3, 3, 0, 2, True),
        (1, 2, 0, 2, False),
        (2, 1, 0, 2, False),
        (2, 2, 1, 2, False),
        (0, 0, 0, 0, False),
    ],
)
def test_ready(healthy: int, instances: int, other: int, count: int, expected: bool) -> None:
    view = side(GREEN, healthy=healthy, instances=instances, other_instances=other)
    assert ready(view, count) is expected


# ------------------------------------------------------------------------------------------------
# The plan in words, for the pull-request diff
# ------------------------------------------------------------------------------------------------


def test_describe_plan() -> None:
    assert describe_plan((10, 50, 100), 300, scale_down_delay=3600) == (
        "deploy to green (idle), scale it to blue's capacity, wait until its targets are healthy",
        "10% → 50% → 100%, 300 s each, each step gated by the analysis (canary against blue's"
        " target group)",
        "rollback: one listener write back to blue; blue stays at full capacity for 3600 s after"
        " 100%, then scales down to 0",
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"live": GREEN}, "deploy to blue (idle), scale it to green's capacity"),
        ({"warm_standby": 1}, "then scales down to 1 (warm standby)"),
        ({"analysis": False}, "analysis off"),
        ({"steps": (100,)}, "100%, in one step"),
        ({"steps": (25, 100), "step_pause": 60}, "25% → 100%, 60 s each"),
        ({"scale_down_delay": 0}, "for 0 s after 100%"),
    ],
)
def test_describe_plan_variants(kwargs: dict[str, Any], expected: str) -> None:
    args: dict[str, Any] = {"steps": (10, 50, 100), "step_pause": 300, "scale_down_delay": 3600}
    args |= kwargs
    steps, pause = args.pop("steps"), args.pop("step_pause")
    assert expected in " | ".join(describe_plan(steps, pause, **args))


# ------------------------------------------------------------------------------------------------
# The safe options, over a grid of states: what no decision may do
# ------------------------------------------------------------------------------------------------


def _grid() -> list[BlueGreenState]:
    found = []
    marks_options = [
        SideMarks(),
        SideMarks(verified=FP),
        SideMarks(verified=OLD, retired_at=NOW - 4000),
        SideMarks(step=1, step_at=NOW - 400),
        SideMarks(failed=FP),
    ]
    for (
        weight,
        runs,
        green_healthy,
        blue_healthy,
        green_marks,
        blue_marks,
        verdict_,
        other,
    ) in itertools.product(
        (0, 10, 30, 50, 90, 100),
        ((False, True), (True, False), (True, True), (False, False)),
        (0, 1, 2),
        (0, 2),
        marks_options,
        marks_options[:3],
        (None, Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE),
        (0, 1),
    ):
        blue = side(
            BLUE,
            runs_desired=runs[0],
            weight=100 - weight,
            healthy=blue_healthy,
            marks=blue_marks,
        )
        green = side(
            GREEN,
            runs_desired=runs[1],
            weight=weight,
            desired=2,
            instances=2,
            healthy=green_healthy,
            other_instances=other,
            marks=green_marks,
        )
        analysis = verdict(verdict_) if verdict_ is not None else None
        found.append(state(blue, green, analysis=analysis))
    return found


GRID = _grid()


def _weight(s: BlueGreenState, color: Color, decision: BlueGreenDecision) -> tuple[int, int]:
    """(before, after) percent of ``color``."""
    blue_before = percent(s)
    assert blue_before is not None
    before = blue_before[0] if color is BLUE else blue_before[1]
    written = [m for m in decision.moves if isinstance(m, SetWeights)]
    if not written:
        return before, before
    return before, written[-1].blue if color is BLUE else written[-1].green


def test_grid_is_large() -> None:
    assert len(GRID) > 10_000


def test_no_traffic_onto_a_side_not_healthy_at_capacity() -> None:
    for s in GRID:
        decision = decide(s)
        for color in Color:
            before, after = _weight(s, color, decision)
            if after > before:
                view = s.side(color)
                assert ready(view, max(1, min(view.desired, s.max_size))), (s, decision)
                assert view.healthy >= need(s, s.side(color.other)) or after == 100, (s, decision)


def test_weights_always_add_up_to_100() -> None:
    for s in GRID:
        for move in decide(s).moves:
            if isinstance(move, SetWeights):
                assert move.blue + move.green == 100 and min(move.blue, move.green) >= 0


def test_a_failed_revision_is_never_retried() -> None:
    for s in GRID:
        decision = decide(s)
        for color in Color:
            view = s.side(color)
            if view.marks.failed != FP or not (view.runs_desired or view.weight == 0):
                continue
            if sides(s, percent(s)[0]).t.color is not color:  # type: ignore[index]
                continue
            before, after = _weight(s, color, decision)
            assert after <= before, (s, decision)
            for move in decision.moves:
                assert not (isinstance(move, PinSide) and move.color is color)
                if isinstance(move, ScaleSide) and move.color is color:
                    assert move.desired <= view.desired


def test_every_decision_says_something() -> None:
    for s in GRID:
        decision = decide(s)
        assert decision.message and decision.live in (BLUE, GREEN, None)
        assert all(move.reason for move in decision.moves if not isinstance(move, FailSide))
