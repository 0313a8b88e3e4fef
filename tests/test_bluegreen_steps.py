"""pipeline.bluegreen.decide while traffic shifts and after: the steps and their gate, crash-resume,
drift, the autoscaler changing capacity mid-rollout, and the old side's scale-down at 100%.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model import (
    BG_ADOPTED,
    TAG_BG_RETIRED,
    TAG_BG_STEP,
    TAG_BG_VERIFIED,
    BlueGreenState,
    Color,
    Phase,
    SideMarks,
    SideView,
    Stage,
    Verdict,
)
from tests.bluegreen_states import (
    BLUE,
    FAIL,
    FP,
    GREEN,
    NOW,
    OLD,
    RETIRED_NOW,
    VERIFIED,
    WAITING,
    case,
    check,
    ready_side,
    side,
    state,
    step_tag,
    stepping,
    verdict,
)

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

GREEN_LIVE: dict[str, Any] = {"weight": 100, "min_size": 2}
DONE = [("mark", GREEN, {TAG_BG_VERIFIED: FP, TAG_BG_STEP: ""})]


def at_100(
    blue: SideView | None = None, green_marks: SideMarks = VERIFIED, **changes: Any
) -> BlueGreenState:
    """Green took 100% of the traffic on the desired revision; blue had it before."""
    green = ready_side(GREEN, marks=green_marks, **GREEN_LIVE)
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
        at_100(side(BLUE, weight=0, marks=SideMarks(verified=BG_ADOPTED, retired_at=NOW - 100))),
        [],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-adopted-blue-stays-warm",
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


BACK_TO_BLUE = [("fail", GREEN), ("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)]
SCALED_DOWN = SideMarks(verified=OLD, retired_at=NOW - 4000)
IDLE_BLUE = {"weight": 0, "desired": 0, "min_size": 0, "instances": 0, "healthy": 0}

# The 100% step is still a step while blue stays warm: a failed analysis flips back.
STEADY_JUDGED = [
    case(
        at_100(side(BLUE, weight=0), SideMarks(step=2, step_at=NOW - 10), analysis=FAIL),
        BACK_TO_BLUE,
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "b1-fail-before-verified-flips-back",
    ),
    case(
        at_100(analysis=FAIL),
        BACK_TO_BLUE,
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "b1-fail-while-blue-warm",
    ),
    case(
        at_100(
            side(BLUE, **IDLE_BLUE, marks=SCALED_DOWN),
            SideMarks(step=2, step_at=NOW),
            analysis=FAIL,
        ),
        [("fail", GREEN), ("scale", BLUE, 2, 2, 6)],
        Phase.FAILED,
        Stage.RESTORING,
        GREEN,
        "b1-fail-before-verified-blue-down-restores-first",
    ),
    case(
        at_100(side(BLUE, **IDLE_BLUE, marks=SCALED_DOWN), analysis=FAIL),
        [],
        Phase.IN_SYNC,
        Stage.STEADY,
        GREEN,
        "b1-fail-after-the-rollout-closed-ignored",
    ),
    case(
        at_100(side(BLUE, weight=0, marks=SideMarks(retired_at=NOW - 10)), analysis=FAIL),
        [("scale", BLUE, 0, 0, 6)],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-fail-never-flips-to-an-unverified-side",
    ),
    case(
        at_100(analysis=verdict(Verdict.INCONCLUSIVE)),
        [],
        Phase.IN_SYNC,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-inconclusive-changes-nothing",
    ),
]

# Tags that are stale or from the future.
STALE = [
    case(
        at_100(
            side(BLUE, weight=0, marks=SideMarks(verified=OLD)),
            SideMarks(verified=FP, retired_at=NOW - 900),
        ),
        [("mark", GREEN, {TAG_BG_RETIRED: ""}), ("mark", BLUE, RETIRED_NOW)],
        Phase.PROGRESSING,
        Stage.SCALING_DOWN,
        GREEN,
        "crash-after-a-revert-flip-before-blue-was-retired",
    ),
    case(
        at_100(green_marks=SideMarks(verified=FP, retired_at=NOW - 9000)),
        [("mark", GREEN, {TAG_BG_RETIRED: ""})],
        Phase.PROGRESSING,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-live-side-loses-its-old-retired-tag",
    ),
    case(
        at_100(green_marks=SideMarks(verified=FP, step=1, step_at=NOW - 9000)),
        [("mark", GREEN, {TAG_BG_STEP: ""})],
        Phase.PROGRESSING,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-live-side-loses-a-stale-step",
    ),
    case(
        at_100(side(BLUE, weight=0, marks=SideMarks(verified=OLD, retired_at=NOW + 99_999))),
        [("mark", BLUE, RETIRED_NOW)],
        Phase.PROGRESSING,
        Stage.SCALING_DOWN,
        GREEN,
        "b1-retired-in-the-future-restarts-now",
    ),
    case(
        stepping(10, 0, NOW + 99_999),
        [("mark", GREEN, step_tag(0))],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-step-in-the-future-restarts-now",
        step=0,
    ),
    case(
        dataclasses.replace(stepping(10, 0, PAUSED), steps=(0, 10, 50)),
        [("mark", GREEN, step_tag(1)), ("weights", 50, 50)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-steps-read-without-0-and-ending-at-100",
        step=1,
    ),
    case(
        dataclasses.replace(stepping(50, 1, PAUSED), steps=(10, 50)),
        [("mark", GREEN, step_tag(2)), ("weights", 0, 100)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        GREEN,
        "b2-steps-without-100-end-at-100",
        step=2,
    ),
    # rollout.analysis.enabled false: nothing is judged, a step waits out its pause only.
    case(
        dataclasses.replace(stepping(10, 0, PAUSED, analysis=None), judged=False),
        [("mark", GREEN, step_tag(1)), ("weights", 50, 50)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-analysis-off-advances-after-the-pause",
        step=1,
    ),
    case(
        dataclasses.replace(stepping(10, 0, NOW - 10, analysis=None), judged=False),
        [],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-analysis-off-still-waits-out-the-pause",
        step=0,
    ),
    case(
        stepping(10, 0, PAUSED, analysis=None),
        [],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "b2-analysis-on-but-unread-holds",
        step=0,
    ),
]


@pytest.mark.parametrize(
    ("s", "moves", "phase", "stage", "live", "step"), [*STEPPING, *STEADY, *STEADY_JUDGED, *STALE]
)
def test_decide(
    s: BlueGreenState,
    moves: list[tuple[Any, ...]],
    phase: Phase,
    stage: Stage,
    live: Color | None,
    step: int | None,
) -> None:
    check(s, moves, phase, stage, live, step)
