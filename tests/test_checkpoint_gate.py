"""The checkpoint gate (``pipeline.diff.checkpoint``), in plain data: when a refresh is held at a
checkpoint, what the analysis lets it do there, how a chain of refreshes stays one rollout, and
what diff, plan and next_step make of it.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.model import (
    TAG_CHECKPOINT,
    TAG_FAILED_FINGERPRINT,
    AnalysisInputs,
    AnalysisResult,
    AnalysisSpec,
    CancelInstanceRefresh,
    DesiredService,
    InstanceHistory,
    MetricPoint,
    ObservedRefresh,
    ObservedService,
    Phase,
    RefreshStatus,
    ServiceOutcome,
    StartInstanceRefresh,
    TagResource,
    Verdict,
)
from reconciler.model.markers import failed_marker
from reconciler.model.observed import RollbackDetails
from reconciler.pipeline.diff import checkpoint, diff
from reconciler.pipeline.diff.checkpoint import HOLD_DELAY, Move, Passed
from reconciler.pipeline.diff.gates import gates
from reconciler.pipeline.next_step import next_step
from reconciler.pipeline.plan import plan
from reconciler.pipeline.preferences import (
    continuation_preferences,
    refresh_preferences,
    restore_preferences,
)
from tests.factories import (
    DIGEST_B,
    OWNER,
    add_versions,
    desired_service,
    instance,
    observed_service,
    owned_tags,
    refresh,
    resolved_image,
    rollout_spec,
    service_spec,
    version_of,
    with_group,
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


# ------------------------------------------------------------------------------------------------
# Through diff, plan and next_step
# ------------------------------------------------------------------------------------------------


def new_image(**rollout: Any) -> DesiredService:
    image = resolved_image(tag="v2.1", digest=DIGEST_B)
    return desired_service(rollout=rollout_spec(**rollout), image=image)


def rolling_out(
    desired: DesiredService,
    refreshes: tuple[ObservedRefresh, ...],
    analysis: AnalysisInputs | None = None,
    *,
    tags: dict[str, str] | None = None,
    versions: tuple[str, str] = ("4", "3"),
) -> ObservedService:
    observed = add_versions(observed_service(), version_of(desired, 4))
    members = tuple(
        instance(f"i-{n:017x}", launch_template_version=v) for n, v in enumerate(versions, 1)
    )
    observed = with_group(observed, tags=tags or owned_tags(), instances=members)
    return dataclasses.replace(observed, refreshes=refreshes, analysis=analysis)


def outcome_of(desired: DesiredService, observed: ObservedService) -> ServiceOutcome:
    found = diff(desired, observed, owner=OWNER)
    result = plan(desired, observed, found, owner=OWNER)
    return ServiceOutcome(
        spec=desired.spec, desired=desired, observed=observed, diff=found, plan=result
    )


def test_a_pass_at_the_checkpoint_tags_the_group_then_cancels() -> None:
    desired = new_image()
    analysis = inputs(REACHED + 60, points=healthy_points(REACHED + 60))
    seen = outcome_of(desired, rolling_out(desired, (held(),), analysis))
    assert seen.diff is not None and seen.plan is not None
    # The verdict is the real judge's: one healthy new instance past grace, no metric read.
    assert seen.diff.phase is Phase.PROGRESSING
    assert "going past checkpoint 50%" in seen.diff.message
    tag, cancel = seen.plan.actions
    assert isinstance(tag, TagResource) and isinstance(cancel, CancelInstanceRefresh)
    assert checkpoint.parse_passed(tag.tags[TAG_CHECKPOINT]) == MARKER
    assert "cancelled at its checkpoint (nothing is rolled back)" in next_step(seen)


def test_no_data_at_the_checkpoint_holds_and_says_so() -> None:
    desired = new_image()
    # CloudWatch unreadable: metric signals inconclusive, so the whole analysis is.
    analysis = inputs(REACHED + 10**4, metrics_error="CloudWatch GetMetricData: Throttling")
    seen = outcome_of(desired, rolling_out(desired, (held(),), analysis))
    assert seen.diff is not None and seen.plan is not None
    assert seen.diff.phase is Phase.PROGRESSING and seen.plan.actions == ()
    assert "holding at checkpoint 50%: analysis inconclusive (" in seen.diff.message
    assert "Throttling" in seen.diff.message
    assert next_step(seen).startswith("holding at checkpoint 50% until the analysis passes")


def test_a_failure_at_the_checkpoint_rolls_back_as_anywhere() -> None:
    desired = new_image()
    bad = InstanceHistory(
        "i-new1", launched_at=START, in_service_at=IN_SERVICE, version="4", health_terminated=True
    )
    analysis = inputs(REACHED + 60, instances=(bad,))
    seen = outcome_of(desired, rolling_out(desired, (held(),), analysis))
    assert seen.diff is not None and seen.plan is not None
    assert seen.diff.phase is Phase.FAILED
    kinds = [type(a).__name__ for a in seen.plan.actions]
    assert kinds == ["RollbackInstanceRefresh", "MarkFailed"]


def test_our_cancel_under_way_is_waited_for_not_superseded() -> None:
    desired = new_image()
    cancelling = held(status=RefreshStatus.CANCELLING)
    seen = outcome_of(desired, rolling_out(desired, (cancelling,), tags=CHAINED))
    assert seen.diff is not None and seen.plan is not None
    assert seen.diff.phase is Phase.PROGRESSING and seen.plan.actions == ()
    assert "waiting for the cancel to finish" in seen.diff.message


@pytest.mark.parametrize(
    ("checkpoints", "passed", "sent"),
    [((50, 100), 50, None), ((25, 50, 100), 25, [50, 100])],
)
def test_after_our_cancel_the_continuation_starts_with_skip_matching(
    checkpoints: tuple[int, ...], passed: int, sent: list[int] | None
) -> None:
    desired = new_image(checkpoint_percentages=checkpoints)
    done = cancelled(checkpoint_percentages=checkpoints, percentage_complete=passed)
    tags = {**owned_tags(), TAG_CHECKPOINT: Passed("rf-0001", passed, "rf-0001", START).text()}
    seen = outcome_of(desired, rolling_out(desired, (done,), tags=tags))
    assert seen.diff is not None and seen.plan is not None
    assert seen.diff.phase is Phase.OUT_OF_SYNC
    assert f"cancelled to go past checkpoint {passed}%" in seen.diff.message
    (start,) = [a for a in seen.plan.actions if isinstance(a, StartInstanceRefresh)]
    assert start.version == 4 and start.preferences["SkipMatching"] is True
    assert start.preferences.get("CheckpointPercentages") == sent
    assert not [a for a in seen.plan.actions if type(a).__name__ == "CreateLaunchTemplateVersion"]


def test_the_continuation_goes_on_even_when_every_instance_in_service_is_new() -> None:
    # A Standby instance on the old version: a repin would end the rollout without it; the
    # continuation lets AWS deal with it as the first refresh would have (StandbyInstances).
    desired = new_image()
    seen = outcome_of(
        desired, rolling_out(desired, (cancelled(),), tags=CHAINED, versions=("4", "4"))
    )
    assert seen.plan is not None
    kinds = [type(a).__name__ for a in seen.plan.actions]
    assert kinds == ["StartInstanceRefresh"], kinds  # no UpdateAutoScalingGroup repin first


def test_a_humans_cancel_is_an_ordinary_new_rollout() -> None:
    desired = new_image()
    seen = outcome_of(desired, rolling_out(desired, (cancelled(),)))
    assert seen.plan is not None
    (start,) = [a for a in seen.plan.actions if isinstance(a, StartInstanceRefresh)]
    assert start.preferences["SkipMatching"] is False
    assert start.preferences["CheckpointPercentages"] == [50, 100]


def test_a_new_commit_after_our_cancel_rolls_out_the_new_state() -> None:
    desired = desired_service(
        rollout=rollout_spec(), image=resolved_image(tag="v3", digest="sha256:" + "3" * 64)
    )
    seen = outcome_of(desired, rolling_out(new_image(), (cancelled(),), tags=CHAINED))
    assert seen.plan is not None
    (start,) = [a for a in seen.plan.actions if isinstance(a, StartInstanceRefresh)]
    assert start.preferences["SkipMatching"] is False


def failed_chain_tags(desired: DesiredService, refresh_id: str) -> dict[str, str]:
    marker = failed_marker(desired, refresh_id=refresh_id)
    return {**CHAINED, TAG_FAILED_FINGERPRINT: marker}


@pytest.mark.parametrize(
    "refreshes",
    [
        # The analysis failed between our cancel and the continuation: nothing to roll back.
        (cancelled(),),
        # The continuation was rolled back: AWS put back only what it replaced itself.
        (
            continuation(
                status=RefreshStatus.ROLLBACK_SUCCESSFUL, rollback=RollbackDetails("manual")
            ),
            cancelled(),
        ),
    ],
    ids=["failed-after-cancel", "continuation-rolled-back"],
)
def test_a_failed_chain_puts_the_previous_version_back_on_what_is_left(
    refreshes: tuple[ObservedRefresh, ...],
) -> None:
    desired = new_image()
    tags = failed_chain_tags(desired, refreshes[0].refresh_id)
    seen = outcome_of(desired, rolling_out(desired, refreshes, tags=tags))
    assert seen.diff is not None and seen.plan is not None
    assert seen.diff.phase is Phase.FAILED
    assert "1 instance(s) on another version after the rollback" in seen.diff.message
    (start,) = seen.plan.actions
    assert isinstance(start, StartInstanceRefresh) and start.version == 3
    assert start.preferences["SkipMatching"] is True and start.preferences["AutoRollback"] is False
    assert "puts the previous version back" in next_step(seen)


def test_no_restore_while_a_refresh_is_active_or_once_all_are_back() -> None:
    desired = new_image()
    tags = failed_chain_tags(desired, "rf-0002")
    running = continuation(refresh_id="rf-0003", desired_version="3")  # the restore itself
    during = outcome_of(desired, rolling_out(desired, (running, cancelled()), tags=tags))
    after = outcome_of(
        desired, rolling_out(desired, (cancelled(),), tags=tags, versions=("3", "3"))
    )
    for seen in (during, after):
        assert seen.plan is not None and seen.diff is not None
        assert seen.diff.phase is Phase.FAILED
        assert not [a for a in seen.plan.actions if isinstance(a, StartInstanceRefresh)]


def test_without_auto_rollback_nothing_is_restored() -> None:
    desired = new_image(auto_rollback=False)
    tags = failed_chain_tags(desired, "rf-0001")
    seen = outcome_of(desired, rolling_out(desired, (cancelled(),), tags=tags))
    assert seen.plan is not None
    assert not [a for a in seen.plan.actions if isinstance(a, StartInstanceRefresh)]


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        ({}, "checkpoints at 50%: a gate; the refresh goes past each only once the analysis"),
        ({"checkpoint_delay": None}, "at least 3600 s have passed there"),
        (
            {"analysis": AnalysisSpec(enabled=False)},
            "checkpoints at 50%, 100%: AWS pauses 60 s at each, then goes on by itself",
        ),
    ],
)
def test_the_pull_request_diff_says_the_checkpoint_is_a_gate(
    overrides: dict[str, Any], text: str
) -> None:
    assert text in "\n".join(gates(service_spec(rollout=rollout_spec(**overrides))))
