"""follow and exits, pure: where a service stands, when ``apply --wait`` ends and with which
code, what a failed rollout left running, and ``diff``'s and ``apply``'s exit codes. Plain data
only: sightings, and outcomes built from the model factories with the real (pure) diff and plan.
"""

from __future__ import annotations

import dataclasses

import pytest

from reconciler import errors
from reconciler.cli.exits import apply_exit, diff_exit
from reconciler.model import (
    DesiredService,
    ObservedRefresh,
    ObservedService,
    Phase,
    RefreshStatus,
    ServiceOutcome,
)
from reconciler.pipeline.aftermath import Running, aftermath, running_now
from reconciler.pipeline.diff import diff
from reconciler.pipeline.follow import (
    Sighting,
    Standing,
    Verdict,
    failed,
    judge,
    standing,
    verdict,
)
from reconciler.pipeline.plan import plan
from reconciler.pipeline.status import service_status
from tests.factories import (
    DIGEST_B,
    OWNER,
    REVISION,
    add_versions,
    desired_service,
    failed_tags,
    instance,
    instances,
    observed_service,
    owned_tags,
    refresh,
    resolved_image,
    rollout_spec,
    version_of,
    with_group,
)

S = RefreshStatus

# -- standing: one service ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        # Ready, with nothing left to apply, is the end; a pending write is not yet.
        (Sighting(ready=True, stalled=False, failed=False), Standing.READY),
        (Sighting(True, False, False, refresh=S.SUCCESSFUL), Standing.READY),
        (Sighting(True, False, False, pending=True), Standing.FOLLOWING),
        # A rollout under way, or a temporary error being retried: follow on.
        (Sighting(False, False, False, refresh=S.IN_PROGRESS), Standing.FOLLOWING),
        (Sighting(False, False, False, refresh=S.PENDING), Standing.FOLLOWING),
        (Sighting(False, False, False, refresh=S.BAKING), Standing.FOLLOWING),
        (Sighting(False, False, False, refresh=S.CANCELLING), Standing.FOLLOWING),
        (Sighting(False, False, False), Standing.FOLLOWING),
        # A rollback bringing the group back to the desired version (a revert) is progress.
        (Sighting(False, False, False, refresh=S.ROLLBACK_IN_PROGRESS), Standing.FOLLOWING),
        # Failed: followed while AWS rolls back (1.7), settled once it is done, or never began.
        (Sighting(False, False, True, refresh=S.ROLLBACK_IN_PROGRESS), Standing.ROLLING_BACK),
        (
            Sighting(False, False, True, pending=True, refresh=S.ROLLBACK_IN_PROGRESS),
            Standing.ROLLING_BACK,
        ),
        # The analysis failed it and this pass asked AWS to roll it back: the refresh it read
        # still says InProgress.
        (
            Sighting(False, False, True, pending=True, refresh=S.IN_PROGRESS, stopping=True),
            Standing.ROLLING_BACK,
        ),
        # A failed checkpoint chain: its restore refresh is planned, or running; then done.
        (Sighting(False, False, True, pending=True, restoring=True), Standing.ROLLING_BACK),
        (
            Sighting(False, False, True, refresh=S.IN_PROGRESS, restoring=True),
            Standing.ROLLING_BACK,
        ),
        (Sighting(False, False, True, refresh=S.SUCCESSFUL), Standing.FAILED),
        (Sighting(False, False, True, refresh=S.ROLLBACK_SUCCESSFUL), Standing.FAILED),
        (Sighting(False, False, True, refresh=S.ROLLBACK_FAILED), Standing.FAILED),
        (Sighting(False, False, True, refresh=S.FAILED), Standing.FAILED),
        (Sighting(False, False, True, refresh=S.CANCELLED), Standing.FAILED),
        (Sighting(False, False, True), Standing.FAILED),  # only the failure tag is left
        (Sighting(False, False, True, pending=True, refresh=S.FAILED), Standing.FAILED),
        # Someone else's refresh running after ours failed is no reason to wait for it.
        (Sighting(False, False, True, refresh=S.IN_PROGRESS), Standing.FAILED),
        (Sighting(False, False, True, refresh=S.CANCELLING), Standing.FAILED),
        # Stalled wins: nothing will move without a change to the desired state or to AWS.
        (Sighting(False, True, False), Standing.STALLED),
        (Sighting(False, True, True, refresh=S.ROLLBACK_IN_PROGRESS), Standing.STALLED),
        (Sighting(False, True, False, refresh=S.IN_PROGRESS), Standing.STALLED),
    ],
)
def test_standing(seen: Sighting, expected: Standing) -> None:
    assert standing(seen) is expected


# -- verdict: every service -----------------------------------------------------------------------

R, F, B, X, W = (
    Standing.READY,
    Standing.FAILED,
    Standing.ROLLING_BACK,
    Standing.STALLED,
    Standing.FOLLOWING,
)


@pytest.mark.parametrize(
    ("standings", "expected"),
    [
        ([R], Verdict.READY),
        ([R, R, R], Verdict.READY),
        ([W], None),
        ([B], None),
        ([R, W], None),
        ([F, W], None),  # a failure is reported once the others have settled too
        ([F, B], None),
        ([X, W], None),
        ([F], Verdict.FAILED),
        ([F, R], Verdict.FAILED),
        ([R, F, R], Verdict.FAILED),
        ([F, X], Verdict.FAILED),  # the failed rollout is the news
        ([X], Verdict.ERROR),
        ([X, R], Verdict.ERROR),
    ],
)
def test_verdict(standings: list[Standing], expected: Verdict | None) -> None:
    assert verdict(standings) is expected


def test_verdict_codes_are_the_exit_codes() -> None:
    assert [int(v) for v in Verdict] == [0, 1, 3, 4]


# -- judge, over outcomes the real diff and plan made ---------------------------------------------


def new_desired() -> DesiredService:
    return desired_service(image=resolved_image(tag="v1.1", digest=DIGEST_B))


def rolling_out(status: RefreshStatus = S.IN_PROGRESS, **extra: object) -> ObservedService:
    """The group on version 3, a refresh to version 4 (which holds v1.1) in ``status``."""
    observed = add_versions(observed_service(), version_of(new_desired(), 4))
    ended = "" if status.active else "2024-05-03T11:00:00Z"
    found = refresh(status=status, desired_version="4", end_time=ended, **extra)
    return dataclasses.replace(observed, refreshes=(found,))


def outcome(
    observed: ObservedService,
    *,
    desired: DesiredService | None = None,
    error: Exception | None = None,
) -> ServiceOutcome:
    desired = desired or new_desired()
    found = diff(desired, observed, owner=OWNER)
    planned = plan(desired, observed, found, owner=OWNER, revision=REVISION)
    return ServiceOutcome(
        spec=desired.spec, desired=desired, observed=observed, diff=found, plan=planned, error=error
    )


def in_sync() -> ServiceOutcome:
    desired = desired_service()
    return outcome(observed_service(desired), desired=desired)


def foreign() -> ServiceOutcome:
    observed = with_group(observed_service(), tags=owned_tags(owner="someone-else"))
    return outcome(observed)


def paused() -> ServiceOutcome:
    desired = desired_service(image=resolved_image(tag="v1.1", digest=DIGEST_B), paused=True)
    return outcome(observed_service(), desired=desired)


def restoring() -> ServiceOutcome:
    """A revert during the rollback of version 4: AWS is putting back version 3, the desired."""
    desired = desired_service()
    return outcome(rolling_out(S.ROLLBACK_IN_PROGRESS), desired=desired)


def drifted_during(status: RefreshStatus) -> ServiceOutcome:
    return outcome(with_group(rolling_out(status), max_size=7))


CASES = {
    "in sync": (in_sync, Verdict.READY),
    "rolling out": (lambda: outcome(rolling_out()), None),
    "baking": (lambda: outcome(rolling_out(S.BAKING)), None),
    "rolling back": (lambda: outcome(rolling_out(S.ROLLBACK_IN_PROGRESS)), None),
    "rolling back to the desired version": (restoring, None),
    "rolled back": (lambda: outcome(rolling_out(S.ROLLBACK_SUCCESSFUL)), Verdict.FAILED),
    "rollback failed": (lambda: outcome(rolling_out(S.ROLLBACK_FAILED)), Verdict.FAILED),
    "failed, no rollback": (lambda: outcome(rolling_out(S.FAILED)), Verdict.FAILED),
    "not rolled out yet": (lambda: outcome(observed_service()), None),
    "foreign owner": (foreign, Verdict.ERROR),
    "paused": (paused, Verdict.ERROR),
    "image not found": (
        lambda: outcome(observed_service(), error=errors.ImageNotFound("no v9.9")),
        Verdict.ERROR,
    ),
    "throttled, retrying": (
        lambda: outcome(rolling_out(), error=errors.AwsThrottled("Rate exceeded")),
        None,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_judge(case: str) -> None:
    build, expected = CASES[case]
    found = build()
    assert judge([found], [service_status(found)]) is expected


def test_judge_waits_for_every_service() -> None:
    done, rolling = outcome(rolling_out(S.ROLLBACK_SUCCESSFUL)), outcome(rolling_out())
    assert judge([done, rolling], [service_status(done), service_status(rolling)]) is None
    assert failed([done, rolling]) == [done]


# -- what runs now --------------------------------------------------------------------------------


def test_running_now_after_a_rollback() -> None:
    found = running_now(rolling_out(S.ROLLBACK_SUCCESSFUL))
    assert [(r.version, r.count) for r in found] == [(3, 2)]
    assert found[0].image is not None and found[0].image.endswith("@" + resolved_image().digest)
    assert found[0].tag == "latest" and found[0].revision == REVISION[:12]


def test_running_now_mixed_most_first_and_leaving_instances_ignored() -> None:
    mixed = (
        *instances("4", count=2),
        instance("i-3", launch_template_version="3"),
        instance("i-4", launch_template_version="3", lifecycle_state="Terminating"),
        instance("i-5", launch_template_version="3", lifecycle_state="Terminating:Wait"),
        instance("i-6", launch_template_version=None),
    )
    observed = with_group(rolling_out(S.FAILED), instances=mixed)
    found = running_now(observed)
    assert [(r.version, r.count) for r in found] == [(4, 2), (3, 1), (None, 1)]
    assert found[0].tag == "v1.1" and found[0].image is not None
    assert found[0].image.endswith(DIGEST_B)
    assert found[2] == Running(version=None, count=1)


def test_running_now_names_the_seeds_own_version() -> None:
    seed = with_group(
        observed_service(), launch_template_version="1", instances=instances("1", count=2)
    )
    (found,) = running_now(seed)
    assert (found.version, found.count, found.tag, found.revision) == (1, 2, None, None)
    assert found.image is not None and found.image.endswith(":latest")


@pytest.mark.parametrize(
    ("status", "mixed", "auto_rollback"),
    [
        (S.ROLLBACK_SUCCESSFUL, False, True),
        (S.ROLLBACK_FAILED, True, True),
        (S.FAILED, True, False),
    ],
)
def test_aftermath(status: RefreshStatus, mixed: bool, auto_rollback: bool) -> None:
    observed = rolling_out(status, refresh_id="rf-9", status_reason="health checks")
    if mixed:
        observed = with_group(
            observed, instances=(instance("i-1"), instance("i-2", launch_template_version="4"))
        )
    desired = new_desired()
    desired = dataclasses.replace(
        desired,
        spec=dataclasses.replace(desired.spec, rollout=rollout_spec(auto_rollback=auto_rollback)),
    )
    after = aftermath(outcome(observed, desired=desired))
    assert after.service == "feedback" and after.ended is status
    assert isinstance(after.refresh, ObservedRefresh) and after.refresh.refresh_id == "rf-9"
    assert after.mixed is mixed and after.launches == 3
    assert after.auto_rollback is auto_rollback
    assert "not retried" in after.message


def test_aftermath_without_refresh_history_keeps_the_diffs_word() -> None:
    desired = new_desired()
    observed = with_group(observed_service(), tags=failed_tags(desired))
    after = aftermath(outcome(observed, desired=desired))
    assert after.refresh is None and "marked failed" in after.message
    assert [(r.version, r.count) for r in after.running] == [(3, 2)]


# -- diff and apply exit codes --------------------------------------------------------------------

EXITS = {
    # case: (outcome, diff's exit, apply's exit without --wait)
    "in sync": (in_sync, 0, 0),
    "rollout in progress": (lambda: outcome(rolling_out()), 0, 0),
    "rollback to the desired version": (restoring, 0, 0),
    "drift during a rollout": (lambda: drifted_during(S.IN_PROGRESS), 2, 0),
    "a rollout to do": (lambda: outcome(observed_service()), 2, 0),
    "failed before, not retried": (lambda: outcome(rolling_out(S.ROLLBACK_SUCCESSFUL)), 2, 3),
    "paused with changes": (paused, 2, 5),  # apply left them: AWS does not match (issue 17)
    "foreign owner": (foreign, 1, 1),
    "image not found": (
        lambda: outcome(observed_service(), error=errors.ImageNotFound("no v9.9")),
        1,
        1,
    ),
}


@pytest.mark.parametrize("case", list(EXITS))
def test_exit_codes(case: str) -> None:
    build, diff_code, apply_code = EXITS[case]
    found = build()
    assert (diff_exit([found]), apply_exit([found])) == (diff_code, apply_code)


def test_exit_codes_over_services_take_the_worst() -> None:
    assert diff_exit([in_sync(), outcome(observed_service())]) == 2
    assert diff_exit([outcome(observed_service()), foreign()]) == 1
    assert apply_exit([in_sync(), outcome(rolling_out(S.FAILED))]) == 3
    assert apply_exit([outcome(rolling_out(S.FAILED)), foreign()]) == 1


def test_a_rollback_to_the_desired_version_is_progress_not_a_change() -> None:
    found = restoring()
    assert found.diff is not None and found.diff.phase is Phase.PROGRESSING
    assert found.diff.changes == ()
