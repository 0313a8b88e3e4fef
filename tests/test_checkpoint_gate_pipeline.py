"""The checkpoint gate through the real diff, plan and next_step, in plain data: going past a
checkpoint (tag, then cancel), holding without data, the continuation after our cancel (and not
after a human's), and putting the previous version back on what a failed chain's rollback left.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model import (
    TAG_CHECKPOINT,
    TAG_FAILED_FINGERPRINT,
    AnalysisInputs,
    AnalysisSpec,
    CancelInstanceRefresh,
    DesiredService,
    InstanceHistory,
    ObservedRefresh,
    ObservedService,
    Phase,
    RefreshStatus,
    ServiceOutcome,
    StartInstanceRefresh,
    TagResource,
)
from reconciler.model.markers import failed_marker
from reconciler.model.observed import RollbackDetails
from reconciler.pipeline.diff import checkpoint, diff
from reconciler.pipeline.diff.checkpoint import Passed
from reconciler.pipeline.diff.gates import gates
from reconciler.pipeline.next_step import next_step
from reconciler.pipeline.plan import plan
from tests.factories import (
    DIGEST_B,
    OWNER,
    add_versions,
    desired_service,
    instance,
    observed_service,
    owned_tags,
    resolved_image,
    rollout_spec,
    service_spec,
    version_of,
    with_group,
)
from tests.test_checkpoint_gate import (
    CHAINED,
    IN_SERVICE,
    MARKER,
    REACHED,
    START,
    cancelled,
    continuation,
    healthy_points,
    held,
    inputs,
)

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


def test_a_rolled_back_continuation_is_failed_not_repinned_onto_what_it_left() -> None:
    # The first refresh replaced every instance in service; the continuation failed on what was
    # left (a Standby one, say) and its rollback restored nothing of its own. Pointing the group
    # at the new version would adopt the failed rollout.
    desired = new_image()
    failed_one = continuation(
        status=RefreshStatus.ROLLBACK_SUCCESSFUL, rollback=RollbackDetails("automatic")
    )
    observed = rolling_out(desired, (failed_one, cancelled()), tags=CHAINED, versions=("4", "4"))
    seen = outcome_of(desired, observed)
    assert seen.diff is not None and seen.plan is not None
    assert seen.diff.phase is Phase.FAILED
    kinds = [type(a).__name__ for a in seen.plan.actions]
    assert kinds == ["StartInstanceRefresh", "MarkFailed"], kinds  # the restore; no repin
    (start,) = [a for a in seen.plan.actions if isinstance(a, StartInstanceRefresh)]
    assert start.version == 3 and start.preferences["SkipMatching"] is True
