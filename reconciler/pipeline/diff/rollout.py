"""The rollout phase of a diff, decided from the group's refreshes and failure markers.

Precedence, highest first (after BLOCKED for missing or foreign resources, decided before):

1. a refresh for the desired version is running → PROGRESSING (rollout changes dropped);
   an auto-rollback returning the group to the desired version counts as one;
2. the desired fingerprint is tagged failed, or the newest finished refresh for the desired
   version failed or was rolled back → FAILED (only when a rollout would otherwise be needed);
3. another refresh is running → SUPERSEDING (cancel it first, or wait for the cancel);
4. otherwise no phase: ``compare`` decides between OUT_OF_SYNC and IN_SYNC by the changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.model import (
    TAG_FAILED_FINGERPRINT,
    TAG_RETRIED_REFRESH,
    Change,
    ChangeKind,
    DesiredService,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    ObservedRefresh,
    ObservedService,
    Phase,
    RefreshStatus,
    Resource,
)
from reconciler.pipeline.diff.versions import current_version, desired_version

_FAILED_ENDINGS = frozenset(
    {RefreshStatus.FAILED, RefreshStatus.ROLLBACK_SUCCESSFUL, RefreshStatus.ROLLBACK_FAILED}
)


@dataclass(frozen=True, slots=True)
class RolloutState:
    changes: tuple[Change, ...]
    phase: Phase | None = None  # None: decided by whether there are changes
    message: str = ""
    refresh: ObservedRefresh | None = None


def rollout_state(
    desired: DesiredService,
    observed: ObservedService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    rollout: tuple[Change, ...],
) -> RolloutState:
    target = desired_version(desired, template)
    number = target.version_number if target else None
    active = next((r for r in observed.refreshes if r.status.active), None)
    if (
        active is not None
        and number is not None
        and _refresh_version(active, group=group, template=template) == number
    ):
        return _progressing(desired, group=group, refresh=active, number=number, rollout=rollout)
    if _restores(active, group=group, template=template, number=number):
        assert active is not None and number is not None
        return RolloutState((), Phase.PROGRESSING, _restoring_message(active, number), active)
    if rollout:
        failure = _failure(desired, observed, group=group, template=template, number=number)
        if failure:
            return RolloutState(rollout, Phase.FAILED, failure, active)
    if active is not None:
        return _superseding(active, group=group, template=template, rollout=rollout)
    return RolloutState(rollout)


def _restores(
    refresh: ObservedRefresh | None,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    number: int | None,
) -> bool:
    """An auto-rollback that is returning the group to the desired version (a revert that
    arrived mid-rollback): cancelling it would strand the group half-way, so it is waited on."""
    return (
        refresh is not None
        and refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS
        and number is not None
        and current_version(group, template) == number
    )


def _restoring_message(refresh: ObservedRefresh, number: int) -> str:
    return (
        f"instance refresh {refresh.refresh_id} is rolling back to launch template version"
        f" {number}, the desired state: waiting for it, {refresh.percentage_complete}% complete"
    )


def _refresh_version(
    refresh: ObservedRefresh,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
) -> int | None:
    # Without a DesiredConfiguration a refresh rolls out whatever the group already points at.
    if refresh.desired_version is None:
        return current_version(group, template)
    return template.resolve(refresh.desired_version)


def _progressing(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    refresh: ObservedRefresh,
    number: int,
    rollout: tuple[Change, ...],
) -> RolloutState:
    if (
        refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS
        and group.tags.get(TAG_RETRIED_REFRESH) == refresh.refresh_id
    ):
        # `reconciler retry` during the rollback: let it finish, then roll out again. Calling
        # it FAILED here would tag the fingerprint failed again and undo the retry.
        message = (
            f"instance refresh {refresh.refresh_id} for version {number} is rolling back;"
            " retry requested: rolling out again once the rollback ends"
        )
        return RolloutState((), Phase.PROGRESSING, message, refresh)
    if refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS:
        # The refresh for what we want is being undone: that is rule 4's failure, already.
        message = (
            f"instance refresh {refresh.refresh_id} for version {number} is rolling back"
            f"{_reason(refresh)}; fingerprint {desired.fingerprint} will not be retried"
        )
        return RolloutState(rollout, Phase.FAILED, message, refresh)
    message = (
        f"rolling out {desired.image.describe()} as launch template version {number}: "
        f"instance refresh {refresh.refresh_id} {refresh.status.value}, "
        f"{refresh.percentage_complete}% complete"
    )
    # The refresh already carries the rollout; only settings drift is left to correct.
    return RolloutState((), Phase.PROGRESSING, message, refresh)


def _superseding(
    refresh: ObservedRefresh,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    rollout: tuple[Change, ...],
) -> RolloutState:
    version = _refresh_version(refresh, group=group, template=template)
    what = f"instance refresh {refresh.refresh_id} (version {version or '?'})"
    if refresh.status is RefreshStatus.CANCELLING:
        return RolloutState(rollout, Phase.SUPERSEDING, f"waiting for cancel of {what}", refresh)
    cancel = Change(
        Resource.INSTANCE_REFRESH,
        refresh.refresh_id,
        "status",
        refresh.status.value,
        RefreshStatus.CANCELLED.value,
        ChangeKind.DELETE,
    )
    message = f"{what} is {refresh.status.value} for an older desired state; cancelling it first"
    return RolloutState((*rollout, cancel), Phase.SUPERSEDING, message, refresh)


def _failure(
    desired: DesiredService,
    observed: ObservedService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    number: int | None,
) -> str:
    """Why the desired fingerprint counts as failed (rule 4), or "" if it does not."""
    refresh = None
    if number is not None:
        refresh = _last_finished_for(
            observed.refreshes, group=group, template=template, number=number
        )
    if refresh is not None and not _ended_badly(refresh):
        refresh = None
    if group.tags.get(TAG_FAILED_FINGERPRINT) == desired.fingerprint:
        # Keep saying why once the tag is set: the tag alone would hide the refresh's reason.
        why = (
            f" after instance refresh {refresh.refresh_id} ended {refresh.status.value}"
            f"{_reason(refresh)}"
            if refresh is not None
            else ""
        )
        return (
            f"fingerprint {desired.fingerprint} is marked failed (tag {TAG_FAILED_FINGERPRINT})"
            f"{why}; not retried until the desired state changes or a retry is requested"
        )
    if refresh is None:
        return ""
    if group.tags.get(TAG_RETRIED_REFRESH) == refresh.refresh_id:
        return ""  # an operator asked for this failure to be forgotten
    return (
        f"instance refresh {refresh.refresh_id} for version {number} ended"
        f" {refresh.status.value}{_reason(refresh)}; not retried until the desired state changes"
    )


def _last_finished_for(
    refreshes: Iterable[ObservedRefresh],
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    number: int,
) -> ObservedRefresh | None:
    finished = (r for r in refreshes if not r.status.active)
    return next(
        (r for r in finished if _refresh_version(r, group=group, template=template) == number),
        None,
    )


def _ended_badly(refresh: ObservedRefresh) -> bool:
    if refresh.status in _FAILED_ENDINGS:
        return True
    # A cancel we issued while superseding is not a failure; one caused by a rollback is.
    return refresh.status is RefreshStatus.CANCELLED and "rollback" in refresh.status_reason.lower()


def _reason(refresh: ObservedRefresh) -> str:
    return f": {refresh.status_reason}" if refresh.status_reason else ""
