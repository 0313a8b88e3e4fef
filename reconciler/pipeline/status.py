"""Status like Kubernetes reports it: conditions with a reason, a message and a transition time,
the applied and the last attempted revision, and the history of what the reconciler rolled out.

Everything here is derived from one pipeline pass (``ServiceOutcome``); AWS is the record, so the
status survives restarts: revisions live in launch template version descriptions, failures in a
tag on the group, and rollouts in the instance refresh history. A condition's transition time
comes from that history too (when the refresh behind it started or ended), so it stays the same
from one pass to the next without the reconciler remembering anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from reconciler import errors
from reconciler.images import scripts
from reconciler.images.description import parse_description
from reconciler.model import (
    AnalysisResult,
    Change,
    Color,
    Condition,
    ConditionType,
    LaunchTemplateVersion,
    ObservedAutoScalingGroup,
    ObservedRefresh,
    ObservedService,
    Phase,
    Reason,
    ServiceOutcome,
)
from reconciler.model.markers import TAG_FAILED_REASON
from reconciler.pipeline.bluegreen_status import BlueGreenStatus, blue_green_status
from reconciler.pipeline.diff.failure import group_marker
from reconciler.pipeline.next_step import next_step

# Condition lives in the model; importers of it from here keep working.
__all__ = [
    "Condition",
    "Revision",
    "ServiceStatus",
    "applied_revision",
    "conditions",
    "history",
    "last_attempted_revision",
    "last_failed_refresh",
    "last_failure",
    "next_step",
    "service_status",
]


@dataclass(frozen=True)
class Revision:
    launch_template_version: int | None
    revision: str | None  # git commit (or content hash) recorded when the version was created
    image: str | None  # repository@sha256:...
    fingerprint: str | None = None
    created: str = ""
    outcome: str = ""  # the last refresh's status for this version, if any
    failure: str = ""  # why its rollout failed, as the reconciler recorded it (the reason tag)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    conditions: tuple[Condition, ...]
    applied: Revision | None
    last_attempted: Revision | None
    refresh: ObservedRefresh | None
    last_failure: str | None
    analysis: AnalysisResult | None = None  # the rollout under way, as the analysis judges it
    next_step: str = ""  # what happens next, in words
    blue_green: BlueGreenStatus | None = None  # strategy blueGreen: the sides and the weights
    # What the diff found and apply has not made (yet): a paused service's drift, the settings
    # a Blocked or Failed service holds back, or what this pass is about to write (issue 17 #15).
    pending_changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()  # the diff's notes: unmanaged fields, capacity owned by a policy

    def condition(self, type_: str) -> Condition:
        return next(c for c in self.conditions if c.type == type_)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.refresh is not None:
            data["refresh"]["status"] = self.refresh.status_text
        return data


def service_status(outcome: ServiceOutcome) -> ServiceStatus:
    refresh = outcome.diff.refresh if outcome.diff is not None else None
    return ServiceStatus(
        name=outcome.name,
        conditions=conditions(outcome),
        applied=applied_revision(outcome.observed, group=_live_group(outcome)),
        last_attempted=_attempted(outcome),
        refresh=refresh,
        last_failure=last_failure(outcome),
        analysis=outcome.diff.analysis if outcome.diff is not None else None,
        next_step=next_step(outcome),
        blue_green=blue_green_status(outcome),
        pending_changes=_pending(outcome),
        notes=outcome.diff.notes if outcome.diff is not None else (),
    )


def _pending(outcome: ServiceOutcome) -> tuple[Change, ...]:
    """The diff's changes this pass did not carry out: all of them, unless apply finished."""
    diff = outcome.diff
    if diff is None:
        return ()
    applied = outcome.applied
    if applied is not None and applied.done and outcome.error is None:
        return ()
    return diff.changes


def conditions(outcome: ServiceOutcome) -> tuple[Condition, ...]:
    stalled = _stalled(outcome)
    degraded = _degraded(outcome)
    progressing = _progressing(outcome)
    return _ready(outcome, stalled, degraded, progressing), progressing, degraded, stalled


def _ready(outcome: ServiceOutcome, *others: Condition) -> Condition:
    """Ready unless another condition holds; then not Ready for that condition's reason."""
    cause = next((c for c in others if c.status), None)
    if cause is not None:
        return Condition(ConditionType.READY, False, cause.reason, "", cause.last_transition_time)
    if outcome.diff is None:  # nothing was compared: neither in sync nor out of it
        return Condition(ConditionType.READY, False, Reason.UNKNOWN, "AWS state not read")
    if not outcome.diff.in_sync:
        return Condition(ConditionType.READY, False, Reason.OUT_OF_SYNC)
    # In sync since the last rollout ended, as far as AWS's records go.
    message = "AWS matches the desired state"
    return Condition(
        ConditionType.READY, True, Reason.IN_SYNC, message, _last_ended(outcome.observed)
    )


def _stalled(outcome: ServiceOutcome) -> Condition:
    error = outcome.error
    if error is not None and not isinstance(error, errors.TemporaryError):
        return Condition(ConditionType.STALLED, True, _error_reason(error), str(error))
    if outcome.diff is not None and outcome.diff.phase is Phase.BLOCKED:
        return Condition(ConditionType.STALLED, True, Reason.BLOCKED, outcome.diff.message)
    return Condition(ConditionType.STALLED, False, Reason.NOT_STALLED)


def _error_reason(error: Exception) -> str:
    """AWS's error code when AWS refused (``AccessDenied`` says what to fix, and alerts can
    route on it), else the kind of error."""
    if isinstance(error, errors.AwsApiError) and error.code.isidentifier():
        return error.code
    return type(error).__name__


def _degraded(outcome: ServiceOutcome) -> Condition:
    if outcome.diff is not None and outcome.diff.phase is Phase.FAILED:
        failed = last_failed_refresh(outcome.observed)
        # A refresh still rolling back has no end time yet: it failed when it started rolling back.
        since = (failed.end_time or failed.start_time) if failed else ""
        return Condition(
            ConditionType.DEGRADED, True, Reason.ROLLOUT_FAILED, outcome.diff.message, since
        )
    error = outcome.error
    if isinstance(error, errors.TemporaryError):
        reason = (
            Reason.THROTTLED if isinstance(error, errors.AwsRateLimited) else Reason.TEMPORARY_ERROR
        )
        return Condition(ConditionType.DEGRADED, True, reason, f"{error} (retrying)")
    return Condition(ConditionType.DEGRADED, False, Reason.NOT_DEGRADED)


_REFRESH_REASONS = {
    Phase.PROGRESSING: Reason.REFRESH_PROGRESSING,
    Phase.SUPERSEDING: Reason.REFRESH_SUPERSEDING,
}


def _progressing(outcome: ServiceOutcome) -> Condition:
    diff = outcome.diff
    if diff is None:
        return Condition(ConditionType.PROGRESSING, False, Reason.UNKNOWN)
    if diff.phase is Phase.PROGRESSING and diff.blue_green is not None:
        return Condition(ConditionType.PROGRESSING, True, Reason.TRAFFIC_SHIFTING, diff.message)
    if diff.phase in _REFRESH_REASONS:
        since = diff.refresh.start_time if diff.refresh else ""
        return Condition(
            ConditionType.PROGRESSING, True, _REFRESH_REASONS[diff.phase], diff.message, since
        )
    if outcome.queued is not None:
        message = outcome.queued.message()
        return Condition(ConditionType.PROGRESSING, True, Reason.WAITING_FOR_ROLLOUT_SLOT, message)
    if diff.phase is Phase.OUT_OF_SYNC:
        pending = f"{len(diff.changes)} change(s)"
        return Condition(ConditionType.PROGRESSING, True, Reason.CHANGES_PENDING, pending)
    return Condition(
        ConditionType.PROGRESSING, False, Reason.IDLE, "", _last_ended(outcome.observed)
    )


def _last_ended(observed: ObservedService | None) -> str:
    """When the newest refresh ended; "" while it runs or when there is none."""
    newest = observed.refreshes[0] if observed and observed.refreshes else None
    return newest.end_time if newest is not None and not newest.status.active else ""


def last_failed_refresh(observed: ObservedService | None) -> ObservedRefresh | None:
    return observed.last_failed_refresh() if observed else None


def last_failure(outcome: ServiceOutcome) -> str | None:
    if outcome.diff is not None and outcome.diff.phase is Phase.FAILED:
        return outcome.diff.message
    newest = last_failed_refresh(outcome.observed)
    if newest is None:
        return None
    return f"refresh {newest.refresh_id} {newest.status_text}: {newest.status_reason}"


# ------------------------------------------------------------------------------------------------
# Revisions and history
# ------------------------------------------------------------------------------------------------


def applied_revision(
    observed: ObservedService | None, *, group: ObservedAutoScalingGroup | None = None
) -> Revision | None:
    """The revision ``group`` runs: the service's group, or blue/green's live side."""
    group = group or (observed.auto_scaling_group if observed is not None else None)
    if observed is None or group is None:
        return None
    template = observed.launch_template
    if template is None:
        return None
    number = template.resolve(group.launch_template_version)
    version = template.version(number) if number is not None else None
    return _revision(number, version, outcomes=_outcomes(observed.refreshes))


def _live_group(outcome: ServiceOutcome) -> ObservedAutoScalingGroup | None:
    decision = outcome.diff.blue_green if outcome.diff is not None else None
    return _side_group(outcome, decision.live if decision is not None else None)


def _side_group(outcome: ServiceOutcome, color: Color | None) -> ObservedAutoScalingGroup | None:
    """Blue/green: the group of side ``color``; None for blue, a rolling service, or no side
    (the callers' default is then the service's own group)."""
    seen = outcome.observed.blue_green if outcome.observed is not None else None
    return seen.green_group if seen is not None and color is Color.GREEN else None


def _attempted(outcome: ServiceOutcome) -> Revision | None:
    """The revision last rolled out: the newest refresh's, or blue/green's target side's."""
    decision = outcome.diff.blue_green if outcome.diff is not None else None
    if decision is None:
        return last_attempted_revision(outcome.observed)
    return applied_revision(outcome.observed, group=_side_group(outcome, decision.target))


def last_attempted_revision(observed: ObservedService | None) -> Revision | None:
    if observed is None or observed.launch_template is None or not observed.refreshes:
        return None
    ref = observed.refreshes[0].desired_version
    number = observed.launch_template.resolve(ref) if ref else None
    version = observed.launch_template.version(number) if number is not None else None
    return _revision(number, version, outcomes=_outcomes(observed.refreshes))


def history(observed: ObservedService) -> list[Revision]:
    """The reconciler's launch template versions, newest first, with each one's refresh outcome."""
    template = observed.launch_template
    if template is None:
        return []
    outcomes = _outcomes(observed.refreshes)
    ours = [v for v in template.versions if parse_description(v.description)]
    failed = _recorded_failure(observed)
    revisions = [
        _revision(v.version_number, v, outcomes=outcomes)
        for v in sorted(ours, key=lambda v: v.version_number, reverse=True)
    ]
    return [
        replace(r, failure=failed[1]) if failed and r.fingerprint == failed[0] else r
        for r in revisions
    ]


def _recorded_failure(observed: ObservedService) -> tuple[str, str] | None:
    """(fingerprint, reason) of the rollout a failed tag records: the group's, or either
    blue/green side's."""
    green = observed.blue_green.green_group if observed.blue_green is not None else None
    for group in (observed.auto_scaling_group, green):
        marker = group_marker(group) if group is not None else None
        if group is not None and marker is not None:
            return marker.fingerprint, group.tags.get(TAG_FAILED_REASON, "")
    return None


def _outcomes(refreshes: Sequence[ObservedRefresh]) -> Mapping[int, str]:
    """The newest refresh status per desired version number."""
    found: dict[int, str] = {}
    for refresh in refreshes:  # newest first
        if refresh.desired_version and refresh.desired_version.isdigit():
            found.setdefault(int(refresh.desired_version), refresh.status_text)
    return found


def _revision(
    number: int | None, version: LaunchTemplateVersion | None, *, outcomes: Mapping[int, str]
) -> Revision:
    fields = parse_description(version.description) if version else {}
    found = scripts.version_image(version) if version else None
    image = (found.pinned or str(found)) if found else None
    return Revision(
        launch_template_version=number,
        revision=fields.get("rev"),
        image=image,
        fingerprint=fields.get("fp"),
        created=version.create_time if version else "",
        outcome=outcomes.get(number, "") if number is not None else "",
    )
