"""Rule 4's memory: whether the desired rollout failed before, and what the failed tag should say.

Two sources, read together. The group's failed tag (``model.markers``) names the rollout key
that failed and the refresh it failed in; it outlives the six weeks of refresh history. The
history shows a refresh for the desired launch template version that ended badly, before the
tag is written (or if the write was lost). A history failure the tag already accounts for under
another rollout key is not this rollout's: the health check, grace period or preferences changed
since, so the same version rolls out again without `reconciler retry`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.model import (
    TAG_FAILED_FINGERPRINT,
    TAG_FAILED_REASON,
    TAG_RETRIED_REFRESH,
    DesiredService,
    ObservedAutoScalingGroup,
    ObservedLaunchTemplate,
    ObservedRefresh,
    ObservedService,
)
from reconciler.model.markers import FailedMarker, failed_marker, parse_failed_marker
from reconciler.pipeline.diff.versions import refresh_version


@dataclass(frozen=True, slots=True)
class Failure:
    message: str
    marker: str  # what the failed tag must hold; MARK_FAILED writes it unless it already does


def group_marker(group: ObservedAutoScalingGroup) -> FailedMarker | None:
    value = group.tags.get(TAG_FAILED_FINGERPRINT)
    return parse_failed_marker(value) if value else None


def accounted_elsewhere(
    desired: DesiredService, group: ObservedAutoScalingGroup, refresh: ObservedRefresh
) -> bool:
    """The tag records ``refresh``'s failure for another rollout key: not this rollout's."""
    marker = group_marker(group)
    return (
        marker is not None and marker.refresh_id == refresh.refresh_id and not marker.fails(desired)
    )


def failure(
    desired: DesiredService,
    observed: ObservedService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    number: int | None,
) -> Failure | None:
    """Why the desired rollout counts as failed (rule 4), or None if it does not."""
    refresh = None
    if number is not None:
        refresh = _last_finished_for(
            observed.refreshes, group=group, template=template, number=number
        )
    if refresh is not None and not ended_badly(refresh):
        refresh = None
    marker = group_marker(group)
    if marker is not None and marker.fails(desired):
        return Failure(_tagged_message(desired, refresh, group), group.tags[TAG_FAILED_FINGERPRINT])
    if refresh is None:
        return None
    if group.tags.get(TAG_RETRIED_REFRESH) == refresh.refresh_id:
        return None  # an operator asked for this failure to be forgotten
    if accounted_elsewhere(desired, group, refresh):
        return None  # the spec changed since that failure: roll out again
    message = (
        f"instance refresh {refresh.refresh_id} for version {number} ended"
        f" {refresh.status_text}{reason(refresh)}; not retried until the desired state changes"
    )
    return Failure(message, failed_marker(desired, refresh_id=refresh.refresh_id))


def _tagged_message(
    desired: DesiredService, refresh: ObservedRefresh | None, group: ObservedAutoScalingGroup
) -> str:
    # Keep saying why once the tag is set: the tag alone would hide the refresh's reason.
    why = (
        f" after instance refresh {refresh.refresh_id} ended"
        f" {refresh.status_text}{reason(refresh, group)}"
        if refresh is not None
        else ""
    )
    return (
        f"fingerprint {desired.fingerprint} is marked failed (tag {TAG_FAILED_FINGERPRINT})"
        f"{why}; not retried until the desired state (image, UserData, health check, grace"
        " period or rollout settings) changes or a retry is requested"
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
        (r for r in finished if refresh_version(r, group=group, template=template) == number),
        None,
    )


def ended_badly(refresh: ObservedRefresh) -> bool:
    # A cancel we issued while superseding is not a failure; a rollback that was cancelled is
    # (``ObservedRefresh.failed`` reads RollbackDetails, not the reason text).
    return not refresh.status.active and refresh.failed


def reason(refresh: ObservedRefresh, group: ObservedAutoScalingGroup | None = None) -> str:
    """ ": why", for a message: what the reconciler recorded when it failed this refresh
    itself (the analysis's numbers, in the group's reason tag), else AWS's StatusReason."""
    text = _recorded(group, refresh) or refresh.status_reason
    return f": {text}" if text else ""


def _recorded(group: ObservedAutoScalingGroup | None, refresh: ObservedRefresh) -> str:
    marker = group_marker(group) if group is not None else None
    if group is None or marker is None or marker.refresh_id != refresh.refresh_id:
        return ""
    return group.tags.get(TAG_FAILED_REASON, "")
