"""pipeline.bluegreen.decide: preparing the idle side, a superseded rollout, warming and the
first step, a revert's flip, a failed revision, and a listener emptied by hand."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model import (
    BG_ADOPTED,
    TAG_BG_ROLLOUT,
    TAG_BG_STEP,
    TAG_BG_VERIFIED,
    BlueGreenState,
    Color,
    Phase,
    SideMarks,
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
    PASS,
    PINNED,
    RETIRED_NOW,
    VERIFIED,
    WAITING,
    at,
    case,
    check,
    ready_side,
    side,
    state,
    step_tag,
    verdict,
)

ROLLOUT_TAGS = {TAG_BG_ROLLOUT: f"{FP}@{at(NOW)}", TAG_BG_STEP: "", TAG_BG_VERIFIED: ""}
PREPARED = [("mark", GREEN, ROLLOUT_TAGS), ("pin", GREEN, 7)]
GREEN_WAS = SideMarks(verified=FP, retired_at=NOW - 500)  # green ran FP to 100% before

ADOPT = ("mark", BLUE, {TAG_BG_VERIFIED: BG_ADOPTED})

# A2: the idle side does not run the desired revision yet.
PREPARE = [
    # The first rollout on a pair: the side serving all traffic is what a rollback returns to.
    case(
        state(blue=side(BLUE, marks=SideMarks())),
        [*PREPARED, ("scale", GREEN, 2, 0, 6), ADOPT],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-first-rollout-adopts-the-live-side",
    ),
    case(
        state(blue=side(BLUE, marks=SideMarks(failed=OLD))),
        [*PREPARED, ("scale", GREEN, 2, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-a-failed-live-side-is-not-adopted",
    ),
    case(
        state(blue=side(BLUE, healthy=0, marks=SideMarks())),
        [*PREPARED, ("scale", GREEN, 2, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "a2-an-unhealthy-live-side-is-not-adopted",
    ),
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
        [("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)],
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
        [("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)],
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

GREEN_FAILED = SideMarks(rollout_fingerprint=FP, rollout_at=NOW - 900, failed=FP)

# F: the desired revision failed on the target; never retried.
FAILED = [
    case(
        state(side(BLUE, weight=90), ready_side(GREEN, weight=10, marks=GREEN_FAILED)),
        [("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "f1-flip-back",
    ),
    case(
        state(
            side(BLUE, weight=0, marks=WAITING), ready_side(GREEN, weight=100, marks=GREEN_FAILED)
        ),
        [("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)],
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


UNREACHABLE += [
    case(
        state(
            side(BLUE, weight=0, marks=SideMarks(verified=OLD)),
            side(GREEN, weight=0, version=5, marks=SideMarks(step=1, step_at=NOW, retired_at=NOW)),
        ),
        [("weights", 100, 0)],
        Phase.BLOCKED,
        Stage.BLOCKED,
        BLUE,
        "zero-after-a-flip-back-blue-had-it",
    ),
]

# A crash between the moves of one decision: the next tick decides from what was written.
CRASHED = [
    case(
        state(green=side(GREEN, marks=SideMarks(rollout_fingerprint=FP, rollout_at=NOW - 60))),
        [*PREPARED, ("scale", GREEN, 2, 0, 6)],
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        BLUE,
        "crash-a2-tagged-not-pinned-prepares-again",
    ),
    case(
        state(green=ready_side(GREEN, marks=dataclasses.replace(PINNED, step=0, step_at=NOW - 60))),
        [("mark", GREEN, step_tag(0)), ("weights", 90, 10)],
        Phase.PROGRESSING,
        Stage.STEPPING,
        BLUE,
        "crash-b3-step-tagged-weights-not-written",
        step=0,
    ),
    case(
        state(side(BLUE, weight=90), ready_side(GREEN, weight=10, marks=SideMarks(failed=FP))),
        [("weights", 100, 0), ("mark", GREEN, RETIRED_NOW)],
        Phase.FAILED,
        Stage.FAILED,
        BLUE,
        "crash-b2-failure-recorded-flip-not-written",
    ),
]

TABLES = CRASHED + PREPARE + SUPERSEDED + IDLE + FAILED + UNREACHABLE


@pytest.mark.parametrize(("s", "moves", "phase", "stage", "live", "step"), TABLES)
def test_decide(
    s: BlueGreenState,
    moves: list[tuple[Any, ...]],
    phase: Phase,
    stage: Stage,
    live: Color | None,
    step: int | None,
) -> None:
    check(s, moves, phase, stage, live, step)
