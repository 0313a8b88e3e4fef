"""pipeline.bluegreen.decide's words: each message names the sides by color and the weights,
and ``next`` says what happens next and when (a UTC clock time), so status can tell an operator
why a rollout waits."""

from __future__ import annotations

import pytest

from reconciler.model import BlueGreenState, SideMarks, Verdict
from reconciler.pipeline.analysis.text import clock
from reconciler.pipeline.bluegreen import decide
from tests.bluegreen_states import (
    BLUE,
    FAIL,
    FP,
    GREEN,
    NOW,
    OLD,
    ready_side,
    side,
    state,
    stepping,
    verdict,
)

GREEN_FAILED = SideMarks(failed=FP)
LIVE_GREEN = SideMarks(verified=FP)


def _at_100(blue: SideMarks, **blue_fields: int) -> BlueGreenState:
    green = ready_side(GREEN, weight=100, min_size=2, marks=LIVE_GREEN)
    return state(side(BLUE, weight=0, marks=blue, **blue_fields), green)


@pytest.mark.parametrize(
    ("s", "message", "next_"),
    [
        pytest.param(
            stepping(10, 0, NOW - 10),
            "green takes 10% (step 1 of 3), blue 90%",
            f"holding at 10%: pausing until {clock(NOW + 290)}",
            id="pausing",
        ),
        pytest.param(
            stepping(10, 0, NOW - 300, analysis=verdict(Verdict.INCONCLUSIVE, "12 requests")),
            "green takes 10% (step 1 of 3), blue 90%",
            "holding at 10%: analysis inconclusive (12 requests)",
            id="inconclusive",
        ),
        pytest.param(
            stepping(10, 0, NOW - 300, analysis=None),
            "green takes 10%",
            "holding at 10%: no analysis yet",
            id="no-analysis",
        ),
        pytest.param(
            stepping(10, 0, NOW - 300),
            "green takes 50% (step 2 of 3), blue 50%",
            f"green to 100% at {clock(NOW + 300)} if the analysis passes",
            id="advanced",
        ),
        pytest.param(
            stepping(30, 1, NOW - 300),
            "green takes 50% (step 2 of 3), blue 50%",
            "weights were 30%, not a step value: drift corrected to 50%",
            id="drift",
        ),
        pytest.param(
            stepping(10, 0, NOW - 5, analysis=FAIL),
            "the analysis failed green at 10% (5xx rate 31% over 2 samples (limit 5%)):"
            " blue takes 100%, green 0% (was 10%)",
            "green scales down to 0",
            id="failed-flip",
        ),
        pytest.param(
            state(
                side(
                    BLUE, weight=0, desired=0, instances=0, healthy=0, marks=SideMarks(verified=OLD)
                ),
                ready_side(GREEN, weight=100, marks=GREEN_FAILED),
            ),
            "blue was scaled down to 0: scaling it to 2, so the rollback takes longer",
            "all traffic to blue once 2 of its targets are healthy",
            id="restoring",
        ),
        pytest.param(
            state(
                side(BLUE, weight=90, version=None),
                ready_side(GREEN, weight=10, marks=GREEN_FAILED),
            ),
            "no previous revision to return to",
            "",
            id="no-previous-revision",
        ),
        pytest.param(
            _at_100(SideMarks(verified=OLD, retired_at=NOW - 100)),
            "green takes 100% on revision f00d, blue 0%; blue stays at 2 for a rollback",
            f"scale blue down to 0 at {clock(NOW + 3500)}",
            id="scale-down-waits",
        ),
        pytest.param(
            state(green=ready_side(GREEN, healthy=1)),
            "green (0%) warms up: green has 1 of 2 targets healthy (2 InService, desired 2)",
            "the first step (10%) once 2 targets are healthy",
            id="warming",
        ),
        pytest.param(
            state(
                side(BLUE, marks=SideMarks(verified="cafe")),
                side(GREEN, runs_desired=True, version=7, marks=SideMarks(verified=FP)),
            ),
            "green ran revision f00d before (a revert) but was scaled down: scaling it up before"
            " the flip",
            "wait for 2 healthy targets in green",
            id="revert-restoring",
        ),
        pytest.param(
            state(side(BLUE, weight=0), side(GREEN)),
            "both weights are 0: no traffic reaches blue or green",
            "",
            id="unreachable",
        ),
    ],
)
def test_words(s: BlueGreenState, message: str, next_: str) -> None:
    decision = decide(s)
    assert message in decision.message
    assert next_ in decision.next
