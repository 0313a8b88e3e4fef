"""status.conditions: types, reasons and transition times, from one pass's outcome alone."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler import errors
from reconciler.model import (
    ConditionType,
    DesiredService,
    ObservedRefresh,
    ObservedService,
    Reason,
    RefreshStatus,
    ServiceOutcome,
)
from reconciler.model.observed import RollbackDetails
from reconciler.pipeline.diff import diff
from reconciler.pipeline.status import Condition, conditions, service_status
from tests.factories import (
    DIGEST_B,
    OWNER,
    add_versions,
    desired_service,
    failed_tags,
    observed_service,
    refresh,
    resolved_image,
    version_of,
    with_group,
)

STARTED = "2024-05-03 10:00:00+00:00"
ENDED = "2024-05-03 10:20:00+00:00"


def outcome(desired: DesiredService, observed: ObservedService) -> ServiceOutcome:
    found = diff(desired, observed, owner=OWNER)
    return ServiceOutcome(spec=desired.spec, desired=desired, observed=observed, diff=found)


def by_type(result: tuple[Condition, ...]) -> dict[str, Condition]:
    return {c.type: c for c in result}


def new_image() -> DesiredService:
    return desired_service(image=resolved_image(tag="v1.1", digest=DIGEST_B))


def with_refreshes(observed: ObservedService, *refreshes: ObservedRefresh) -> ObservedService:
    return dataclasses.replace(observed, refreshes=refreshes)


def test_conditions_come_in_a_fixed_order() -> None:
    desired = desired_service()
    result = conditions(outcome(desired, observed_service(desired)))
    assert [c.type for c in result] == list(ConditionType)


def test_in_sync_is_ready_since_the_last_refresh_ended() -> None:
    desired = desired_service()
    done = refresh(status=RefreshStatus.SUCCESSFUL, start_time=STARTED, end_time=ENDED)
    found = by_type(conditions(outcome(desired, with_refreshes(observed_service(desired), done))))
    ready = found[ConditionType.READY]
    assert (ready.status, ready.reason, ready.last_transition_time) == (True, Reason.IN_SYNC, ENDED)
    idle = found[ConditionType.PROGRESSING]
    assert (idle.status, idle.reason, idle.last_transition_time) == (False, Reason.IDLE, ENDED)


def test_in_sync_without_refresh_history_has_no_transition_time() -> None:
    desired = desired_service()
    found = by_type(conditions(outcome(desired, observed_service(desired))))
    assert found[ConditionType.READY].status
    assert found[ConditionType.READY].last_transition_time == ""


def test_a_refresh_under_way_is_progressing_since_it_started() -> None:
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    observed = with_refreshes(observed, refresh(desired_version="4", start_time=STARTED))
    found = by_type(conditions(outcome(desired, observed)))
    progressing = found[ConditionType.PROGRESSING]
    assert (progressing.status, progressing.reason) == (True, Reason.REFRESH_PROGRESSING)
    assert progressing.last_transition_time == STARTED
    # Not Ready for the same reason, since the same moment.
    ready = found[ConditionType.READY]
    assert (ready.status, ready.reason, ready.last_transition_time) == (
        False,
        Reason.REFRESH_PROGRESSING,
        STARTED,
    )


def test_superseding_names_its_own_reason() -> None:
    observed = with_refreshes(observed_service(), refresh(desired_version="2", start_time=STARTED))
    progressing = by_type(conditions(outcome(new_image(), observed)))[ConditionType.PROGRESSING]
    assert (progressing.reason, progressing.last_transition_time) == (
        Reason.REFRESH_SUPERSEDING,
        STARTED,
    )


@pytest.mark.parametrize(
    ("status", "end_time", "since"),
    [
        (RefreshStatus.ROLLBACK_SUCCESSFUL, ENDED, ENDED),
        (RefreshStatus.FAILED, ENDED, ENDED),
        (RefreshStatus.ROLLBACK_IN_PROGRESS, "", STARTED),
    ],
)
def test_a_failed_rollout_is_degraded_since_the_refresh_failed(
    status: RefreshStatus, end_time: str, since: str
) -> None:
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    failed = refresh(desired_version="4", status=status, start_time=STARTED, end_time=end_time)
    degraded = by_type(conditions(outcome(desired, with_refreshes(observed, failed))))[
        ConditionType.DEGRADED
    ]
    assert (degraded.status, degraded.reason, degraded.last_transition_time) == (
        True,
        Reason.ROLLOUT_FAILED,
        since,
    )


def test_a_failure_known_only_from_the_tag_has_no_transition_time() -> None:
    desired = new_image()
    observed = with_group(observed_service(), tags=failed_tags(desired))
    degraded = by_type(conditions(outcome(desired, observed)))[ConditionType.DEGRADED]
    assert (degraded.reason, degraded.last_transition_time) == (Reason.ROLLOUT_FAILED, "")


def test_pending_changes_have_no_aws_record_of_when_they_appeared() -> None:
    found = by_type(conditions(outcome(new_image(), observed_service())))
    progressing = found[ConditionType.PROGRESSING]
    assert (progressing.reason, progressing.message) == (Reason.CHANGES_PENDING, "1 change(s)")
    assert progressing.last_transition_time == ""
    assert found[ConditionType.READY].reason == Reason.CHANGES_PENDING


@pytest.mark.parametrize(
    ("error", "type_", "reason"),
    [
        (errors.ImageNotFound("no such tag"), ConditionType.STALLED, "ImageNotFound"),
        (errors.AwsThrottled("slow down"), ConditionType.DEGRADED, Reason.TEMPORARY_ERROR),
    ],
)
def test_errors_set_a_condition_without_a_transition_time(
    error: errors.ReconcilerError, type_: ConditionType, reason: str
) -> None:
    found = by_type(conditions(ServiceOutcome(spec=desired_service().spec, error=error)))
    assert (found[type_].status, found[type_].reason) == (True, reason)
    assert found[type_].last_transition_time == ""
    assert found[ConditionType.READY].reason == reason
    assert found[ConditionType.PROGRESSING].reason == Reason.UNKNOWN


# ------------------------------------------------------------------------------------------------
# Refresh state AWS reports that this release does not know, or cannot act on (issue 11)
# ------------------------------------------------------------------------------------------------


def test_an_unknown_refresh_status_is_stalled_and_named_not_a_crash() -> None:
    observed = with_refreshes(
        observed_service(),
        refresh(status=RefreshStatus.UNKNOWN, reported_status="Paused", desired_version="2"),
    )
    found = outcome(new_image(), observed)
    stalled = by_type(conditions(found))[ConditionType.STALLED]
    assert stalled.status and stalled.reason == Reason.BLOCKED
    assert "'Paused'" in stalled.message
    assert service_status(found).to_dict()["refresh"]["status"] == "Paused"


def test_auto_rollback_on_an_ssm_image_is_stalled_with_what_to_do() -> None:
    observed = observed_service()
    assert observed.launch_template is not None
    versions = tuple(
        dataclasses.replace(v, image_id="resolve:ssm:golden-ami") if v.version_number == 3 else v
        for v in observed.launch_template.versions
    )
    observed = dataclasses.replace(
        observed, launch_template=dataclasses.replace(observed.launch_template, versions=versions)
    )
    stalled = by_type(conditions(outcome(new_image(), observed)))[ConditionType.STALLED]
    assert stalled.status and stalled.reason == Reason.BLOCKED
    assert "rollout.autoRollback: false" in stalled.message


def test_a_hand_rollback_of_our_refresh_is_degraded() -> None:
    desired = new_image()
    observed = add_versions(observed_service(), version_of(desired, 4))
    rolled_back = refresh(
        refresh_id="rf-4",
        status=RefreshStatus.CANCELLED,
        desired_version="4",
        rollback=RollbackDetails(reason="manual"),
    )
    degraded = by_type(conditions(outcome(desired, with_refreshes(observed, rolled_back))))
    assert degraded[ConditionType.DEGRADED].reason == Reason.ROLLOUT_FAILED
