"""pipeline.bluegreen's parts: the tags read and written, which side is the target, weights as
percent, capacity and readiness, and the plan in words."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model import (
    TAG_BG_RETIRED,
    TAG_BG_ROLLOUT,
    TAG_BG_STEP,
    TAG_BG_VERIFIED,
    Color,
    SideMarks,
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
from tests.bluegreen_states import (
    BLUE,
    FP,
    GREEN,
    NOW,
    OLD,
    side,
    state,
)

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
