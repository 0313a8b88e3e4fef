"""plan.retry: the plan `reconciler retry` applies, built from one pass's outcome."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.model import (
    ClearFailed,
    Diff,
    ObservedRefresh,
    Phase,
    RefreshStatus,
    ServiceOutcome,
)
from reconciler.pipeline.diff import diff
from reconciler.pipeline.plan import retry
from tests.factories import (
    GROUP,
    OWNER,
    SERVICE,
    add_versions,
    desired_service,
    failed_tags,
    observed_service,
    refresh,
    resolved_image,
    version_of,
    with_group,
)


def failed_outcome(*refreshes: ObservedRefresh) -> ServiceOutcome:
    """A pass that found the desired fingerprint tagged as failed, with ``refreshes`` in AWS."""
    desired = desired_service(image=resolved_image(tag="v1.1", digest="sha256:" + "ee" * 32))
    observed = with_group(observed_service(), tags=failed_tags(desired))
    observed = dataclasses.replace(
        add_versions(observed, version_of(desired, 4)), refreshes=refreshes
    )
    found = diff(desired, observed, owner=OWNER)
    assert found.phase is Phase.FAILED
    return ServiceOutcome(spec=desired.spec, desired=desired, observed=observed, diff=found)


@pytest.mark.parametrize(
    ("refreshes", "retried"),
    [
        ((), None),
        ((refresh(refresh_id="rf-9", status=RefreshStatus.FAILED, desired_version="4"),), "rf-9"),
        (
            (
                refresh(refresh_id="rf-8", status=RefreshStatus.SUCCESSFUL, desired_version="3"),
                refresh(refresh_id="rf-7", status=RefreshStatus.ROLLBACK_SUCCESSFUL),
                refresh(refresh_id="rf-6", status=RefreshStatus.FAILED),
            ),
            "rf-7",
        ),
        ((refresh(refresh_id="rf-5", status=RefreshStatus.ROLLBACK_IN_PROGRESS),), "rf-5"),
    ],
    ids=["no-history", "failed", "newest-failure-wins", "rolling-back"],
)
def test_retry_clears_the_failure_and_forgives_the_newest_failed_refresh(
    refreshes: tuple[ObservedRefresh, ...], retried: str | None
) -> None:
    planned = retry(failed_outcome(*refreshes))
    assert planned is not None
    assert (planned.service, planned.phase, planned.message) == (SERVICE, Phase.OUT_OF_SYNC, "")
    assert planned.actions == (
        ClearFailed(resource_name=GROUP, reason="retry requested", retried_refresh=retried),
    )


@pytest.mark.parametrize(
    "phase",
    [p for p in Phase if p is not Phase.FAILED],
)
def test_retry_plans_nothing_without_a_recorded_failure(phase: Phase) -> None:
    outcome = failed_outcome(refresh(status=RefreshStatus.FAILED))
    assert outcome.diff is not None
    outcome.diff = Diff(SERVICE, outcome.diff.changes, phase)
    assert retry(outcome) is None


def test_retry_plans_nothing_when_the_pass_stopped_before_its_diff() -> None:
    outcome = ServiceOutcome(spec=desired_service().spec)
    assert retry(outcome) is None
