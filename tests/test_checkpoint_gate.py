"""The checkpoint gate (``pipeline.diff.checkpoint``), in plain data: when a refresh is held at a
checkpoint, what the analysis lets it do there, how a chain of refreshes stays one rollout, and
what StartInstanceRefresh is asked. Through diff, plan and next_step: test_checkpoint_gate_pipeline.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.model import (
    TAG_CHECKPOINT,
    AnalysisInputs,
    AnalysisResult,
    AnalysisSpec,
    InstanceHistory,
    MetricPoint,
    ObservedRefresh,
    RefreshStatus,
    Verdict,
)
from reconciler.model.observed import RollbackDetails
from reconciler.pipeline.diff import checkpoint
from reconciler.pipeline.diff.checkpoint import HOLD_DELAY, Move, Passed
from reconciler.pipeline.preferences import (
    continuation_preferences,
    refresh_preferences,
    restore_preferences,
)
from tests.factories import (
    owned_tags,
    refresh,
    rollout_spec,
)

START = 1_800_000_000  # the first refresh's StartTime, on a minute boundary
IN_SERVICE = START + 60
WARMUP = 300
REACHED = IN_SERVICE + WARMUP  # the 50% checkpoint: the new instance warmed up


def iso(epoch: float) -> str:
    return str(datetime.fromtimestamp(epoch, UTC))


def held(**overrides: Any) -> ObservedRefresh:
    """A refresh of version 4, held by AWS at its 50% checkpoint for the reconciler."""
    values: dict[str, Any] = {
        "desired_version": "4",
        "percentage_complete": 50,
        "checkpoint_percentages": (50, 100),
        "checkpoint_delay": HOLD_DELAY,
        "instance_warmup": WARMUP,
        "start_time": iso(START),
    }
    return refresh(**{**values, **overrides})


def inputs(observed_at: float, **overrides: Any) -> AnalysisInputs:
    new = InstanceHistory(
        "i-new1", launched_at=START, in_service_at=IN_SERVICE, version="4", target_state="healthy"
    )
    values: dict[str, Any] = {
        "observed_at": observed_at,
        "rollout_start": START,
        "desired_version": "4",
        "grace_period": 300,
        "instances": (new,),
    }
    return AnalysisInputs(**{**values, **overrides})


def healthy_points(until: float) -> tuple[MetricPoint, ...]:
    """Good traffic minute by minute from the new instance's first minute of traffic."""
    first = IN_SERVICE + 60  # healthy threshold 2 x interval 30
    return tuple(
        MetricPoint(start=t, requests=600.0, errors=0.6, p99=0.2)
        for t in range(first, int(until) - 59, 60)
    )


def verdict(which: Verdict, message: str = "judged") -> AnalysisResult:
    return AnalysisResult(verdict=which, signals=(), message=message)


# ------------------------------------------------------------------------------------------------
# Is the refresh held at a checkpoint? From what AWS reports, nothing else
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, 50),
        ({"percentage_complete": 49}, None),  # not there yet
        ({"percentage_complete": 0}, None),
        ({"percentage_complete": 100}, None),  # done replacing: 100 is no pause
        ({"status": RefreshStatus.BAKING}, None),
        ({"status": RefreshStatus.PENDING}, None),
        ({"status": RefreshStatus.CANCELLING}, None),  # our cancel, on its way
        ({"status": RefreshStatus.ROLLBACK_IN_PROGRESS}, None),
        ({"checkpoint_delay": 60}, None),  # AWS goes on by itself: not our gate
        ({"checkpoint_delay": None}, None),  # AWS's default hour, by itself too
        ({"checkpoint_percentages": ()}, None),
        ({"checkpoint_percentages": (25, 50, 75, 100)}, 50),
        ({"checkpoint_percentages": (25, 50, 75, 100), "percentage_complete": 80}, 75),
        # 2 instances, [10, 40, 100]: one replaced is 50%, AWS waits only at 40 (UG-ckpt).
        ({"checkpoint_percentages": (10, 40, 100)}, 40),
        ({"checkpoint_percentages": (100,)}, None),
    ],
)
def test_held_at(overrides: dict[str, Any], expected: int | None) -> None:
    assert checkpoint.held_at(held(**overrides)) == expected


# ------------------------------------------------------------------------------------------------
# The gate: PASS and the delay → on; anything short of a pass → hold; FAIL → the judgement's
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "after", "delay", "move", "why"),
    [
        (Verdict.PASS, 60, 60, Move.CONTINUE, "analysis passes (judged)"),
        (Verdict.PASS, 600, 60, Move.CONTINUE, "analysis passes"),
        (Verdict.PASS, 59, 60, Move.HOLD, "checkpointDelay 60 s, 1 s of it left"),
        (Verdict.PASS, 0, 60, Move.HOLD, "checkpointDelay 60 s, 60 s of it left"),
        (Verdict.PASS, 3599, None, Move.HOLD, "checkpointDelay 3600 s"),  # AWS's default
        (Verdict.PASS, 3600, None, Move.CONTINUE, "analysis passes"),
        (Verdict.PASS, 0, 0, Move.CONTINUE, "analysis passes"),
        (Verdict.INCONCLUSIVE, 10**5, 60, Move.HOLD, "analysis inconclusive (judged)"),
        (Verdict.PENDING, 10**5, 60, Move.HOLD, "analysis pending (judged)"),
        (Verdict.INCONCLUSIVE, 0, 60, Move.HOLD, "analysis inconclusive"),
        (Verdict.FAIL, 10**5, 60, Move.STOP, "analysis failed (judged)"),
        (Verdict.FAIL, 0, 60, Move.STOP, "analysis failed"),
        (None, 10**5, 60, Move.HOLD, "analysis not read"),
    ],
)
def test_gate(result: Verdict | None, after: int, delay: int | None, move: Move, why: str) -> None:
    rollout = rollout_spec(checkpoint_delay=delay)
    found = checkpoint.gate(
        rollout,
        held(),
        result=verdict(result) if result else None,
        inputs=inputs(REACHED + after),
    )
    assert found is not None
    assert (found.checkpoint, found.move, found.remaining) == (50, move, (100,))
    assert why in found.why


def test_no_gate_where_aws_does_not_hold() -> None:
    found = checkpoint.gate(
        rollout_spec(),
        held(checkpoint_delay=60),
        result=verdict(Verdict.PASS),
        inputs=inputs(REACHED + 10**4),
    )
    assert found is None


def test_held_for_an_analysis_since_turned_off_goes_on() -> None:
    rollout = rollout_spec(analysis=AnalysisSpec(enabled=False))
    found = checkpoint.gate(rollout, held(), result=None, inputs=None)
    assert found is not None and found.move is Move.CONTINUE


def test_a_declared_48_hour_pause_without_analysis_is_awss_not_ours() -> None:
    rollout = rollout_spec(analysis=AnalysisSpec(enabled=False), checkpoint_delay=HOLD_DELAY)
    assert checkpoint.gate(rollout, held(), result=None, inputs=None) is None


def test_without_a_launch_of_this_refresh_the_delay_cannot_be_known_so_it_holds() -> None:
    # The instances were launched before this refresh: none of them says when it got here.
    old = InstanceHistory("i-old", launched_at=START - 900, in_service_at=START - 800)
    found = checkpoint.gate(
        rollout_spec(),
        held(),
        result=verdict(Verdict.PASS),
        inputs=inputs(START + 10**4, instances=(old,)),
    )
    assert found is not None and found.move is Move.HOLD and "unknown" in found.why


@pytest.mark.parametrize(
    ("warmup", "grace", "reached"),
    [(300, 300, IN_SERVICE + 300), (0, 300, IN_SERVICE), (None, 120, IN_SERVICE + 120)],
)
def test_reached_at_is_the_last_launch_in_service_plus_its_warmup(
    warmup: int | None, grace: int, reached: float
) -> None:
    later = InstanceHistory("i-new2", launched_at=START + 5, in_service_at=IN_SERVICE - 30)
    seen = inputs(START + 10**4, grace_period=grace)
    seen = dataclasses.replace(seen, instances=(*seen.instances, later))
    assert checkpoint.reached_at(held(instance_warmup=warmup), seen) == reached


# ------------------------------------------------------------------------------------------------
# The chain: one rollout across our cancels, told apart from a human's
# ------------------------------------------------------------------------------------------------

MARKER = Passed("rf-0001", 50, "rf-0001", START)
CHAINED = {**owned_tags(), TAG_CHECKPOINT: MARKER.text()}


def cancelled(**overrides: Any) -> ObservedRefresh:
    return held(status=RefreshStatus.CANCELLED, **overrides)


def continuation(**overrides: Any) -> ObservedRefresh:
    values: dict[str, Any] = {
        "refresh_id": "rf-0002",
        "percentage_complete": 0,
        "checkpoint_percentages": (),
        "checkpoint_delay": None,
        "skip_matching": True,
        "start_time": iso(REACHED + 120),
    }
    return held(**{**values, **overrides})


def test_the_marker_reads_back_and_fits_a_tag_value() -> None:
    text = Passed("0e1f" * 9, 75, "a" * 36, START).text()
    assert checkpoint.parse_passed(text) == Passed("0e1f" * 9, 75, "a" * 36, START)
    assert len(text) <= 256
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz0123456789 =-_.:/+@")


@pytest.mark.parametrize("text", ["", "rf-0001@50", "refresh=x checkpoint=fifty origin=y since=1"])
def test_a_marker_not_ours_is_no_chain(text: str) -> None:
    assert checkpoint.parse_passed(text) is None


@pytest.mark.parametrize(
    ("refreshes", "tags", "start"),
    [
        ((held(),), owned_tags(), START),  # a rollout of its own
        ((cancelled(),), CHAINED, START),  # we cancelled it
        ((continuation(), cancelled()), CHAINED, START),  # our continuation
        # A human cancelled it (no marker): the next refresh is a rollout of its own.
        ((continuation(), cancelled()), owned_tags(), REACHED + 120),
        # The marker names another refresh.
        ((continuation(), cancelled(refresh_id="rf-0009")), CHAINED, REACHED + 120),
        # The one before was rolled back, not cancelled by us to go on.
        (
            (continuation(), cancelled(rollback=RollbackDetails(reason="manual"))),
            CHAINED,
            REACHED + 120,
        ),
        # For another version: the desired state moved on.
        ((continuation(desired_version="5"), cancelled()), CHAINED, REACHED + 120),
        ((), CHAINED, None),
    ],
    ids=[
        "alone",
        "cancelled-by-us",
        "continuation",
        "human-cancel",
        "other-marker",
        "rolled-back",
        "other-version",
        "nothing",
    ],
)
def test_rollout_start_is_the_chains_first_refresh(
    refreshes: tuple[ObservedRefresh, ...], tags: dict[str, str], start: float | None
) -> None:
    assert checkpoint.rollout_start(refreshes, tags) == start


def test_a_third_link_keeps_the_first_refresh_as_origin() -> None:
    second = continuation(checkpoint_percentages=(50, 100), checkpoint_delay=HOLD_DELAY)
    marker = checkpoint.next_marker((second, cancelled()), CHAINED, checkpoint=50)
    assert marker == Passed("rf-0002", 50, "rf-0001", START)
    first = checkpoint.next_marker((held(),), owned_tags(), checkpoint=50)
    assert first == Passed("rf-0001", 50, "rf-0001", START)


@pytest.mark.parametrize(
    ("refreshes", "tags", "pending"),
    [
        ((cancelled(),), CHAINED, True),
        ((held(status=RefreshStatus.CANCELLING),), CHAINED, False),  # not ended yet
        ((cancelled(),), owned_tags(), False),  # a human's cancel
        ((continuation(), cancelled()), CHAINED, False),  # already continued
        ((cancelled(rollback=RollbackDetails(reason="manual")),), CHAINED, False),
    ],
)
def test_pending_continuation(
    refreshes: tuple[ObservedRefresh, ...], tags: dict[str, str], pending: bool
) -> None:
    assert (checkpoint.pending(refreshes, tags) is not None) is pending


# ------------------------------------------------------------------------------------------------
# What StartInstanceRefresh is asked
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "delay"),
    [
        ({}, HOLD_DELAY),  # gated: AWS holds, the reconciler lets it on
        ({"checkpoint_delay": None}, HOLD_DELAY),
        ({"analysis": AnalysisSpec(enabled=False)}, 60),  # no analysis, no gate: AWS's pause
        ({"analysis": AnalysisSpec(enabled=False), "checkpoint_delay": None}, None),
        ({"checkpoint_percentages": (100,)}, 60),  # no checkpoint before the end
    ],
)
def test_checkpoint_delay_sent(overrides: dict[str, Any], delay: int | None) -> None:
    assert refresh_preferences(rollout_spec(**overrides)).get("CheckpointDelay") == delay


@pytest.mark.parametrize(
    ("remaining", "percentages", "delay"),
    [((100,), None, None), ((75, 100), [75, 100], HOLD_DELAY), ((), None, None)],
)
def test_continuation_preferences(
    remaining: tuple[int, ...], percentages: list[int] | None, delay: int | None
) -> None:
    found = continuation_preferences(rollout_spec(checkpoint_percentages=(25, 75, 100)), remaining)
    assert found["SkipMatching"] is True and found["AutoRollback"] is True
    assert found.get("CheckpointPercentages") == percentages
    assert found.get("CheckpointDelay") == delay
    assert found["MinHealthyPercentage"] == 50 and found["InstanceWarmup"] == 300


def test_restore_preferences() -> None:
    found = restore_preferences(rollout_spec(bake_time=600, alarms=("a",)))
    assert found["SkipMatching"] is True and found["AutoRollback"] is False
    for key in ("CheckpointPercentages", "CheckpointDelay", "BakeTime", "AlarmSpecification"):
        assert key not in found
