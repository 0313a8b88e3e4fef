"""The rollout phase of a diff, decided from the group's refreshes and failure markers.

Precedence, highest first (after BLOCKED for missing or foreign resources, decided before):

0. the newest refresh reports a status this release does not know → BLOCKED, naming it;
1. a refresh for the desired version is running → PROGRESSING (rollout changes dropped);
   an auto-rollback returning the group to the desired version counts as one; held at a
   checkpoint, the gate (``checkpoint``) decides whether it goes past it (tag the group,
   cancel the refresh) or keeps holding;
2. the desired rollout key is tagged failed, or the newest finished refresh for the desired
   version failed or was rolled back and the tag does not record it for another rollout key
   → FAILED (only when a refresh would otherwise be needed; ``failure``);
   once no refresh is active, instances the rollback left on another version are restored
   (``restore``);
3. AWS would refuse the refresh the rollout needs (``preconditions``) → BLOCKED, saying why;
3a. the newest refresh is the one we cancelled to go past a checkpoint → OUT_OF_SYNC, and
   the plan starts the continuation (SkipMatching, the checkpoints ahead);
4. another refresh is running → SUPERSEDING (cancel it first, or wait for the cancel);
5. otherwise no phase: ``compare`` decides between OUT_OF_SYNC and IN_SYNC by the changes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from reconciler.model import (
    TAG_RETRIED_REFRESH,
    AnalysisResult,
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
from reconciler.model.markers import failed_marker
from reconciler.pipeline.diff import checkpoint, judgement
from reconciler.pipeline.diff.failure import accounted_elsewhere, failure, reason
from reconciler.pipeline.diff.preconditions import refused_rollout
from reconciler.pipeline.diff.restore import restore_changes, restore_note
from reconciler.pipeline.diff.versions import (
    current_version,
    desired_version,
    is_rollout,
    refresh_version,
)


@dataclass(frozen=True, slots=True)
class RolloutState:
    changes: tuple[Change, ...]
    phase: Phase | None = None  # None: decided by whether there are changes
    message: str = ""
    refresh: ObservedRefresh | None = None
    failed_marker: str = ""  # FAILED: what the failed tag must hold (see ``failure``)
    analysis: AnalysisResult | None = None  # the rollout under way, as the analysis judges it


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
    active = _active(observed.refreshes)
    if active is not None and active.status is RefreshStatus.UNKNOWN:
        return RolloutState(rollout, Phase.BLOCKED, _unknown_message(active), active)
    if (
        active is not None
        and number is not None
        and refresh_version(active, group=group, template=template) == number
    ):
        return _progressing(
            desired, observed, group=group, refresh=active, number=number, rollout=rollout
        )
    if _restores(active, group=group, template=template, number=number):
        assert active is not None and number is not None
        return RolloutState((), Phase.PROGRESSING, _restoring_message(active, number), active)
    going_on = _continuation(observed, group=group, template=template, number=number)
    if active is None and going_on is not None and not _failed(desired, observed, group, template):
        # Before any repin: the chain goes on as AWS would have gone on past the checkpoint,
        # and the group keeps its version until the chain succeeds (its rollback's target).
        kept = tuple(c for c in rollout if c.field != "launchTemplate.version")
        return RolloutState(kept, Phase.OUT_OF_SYNC, going_on, observed.refreshes[0])
    # A version pin alone needs no refresh, unless it would adopt what a failed chain of ours
    # left behind: a continuation rolled back restores only its own instances (``restore``).
    needs_refresh = any(is_rollout(c) for c in rollout)
    chained = checkpoint.origin(observed.refreshes, group.tags) is not None
    if chained or needs_refresh:
        failed = failure(desired, observed, group=group, template=template, number=number)
        if failed is not None:
            restore = () if active else restore_changes(desired, group=group, template=template)
            message = failed.message + restore_note(restore)
            if restore:  # the group keeps the version the restore puts back: no repin
                rollout = tuple(c for c in rollout if c.field != "launchTemplate.version")
            return RolloutState((*rollout, *restore), Phase.FAILED, message, active, failed.marker)
    refused = refused_rollout(desired, group=group, template=template) if needs_refresh else ""
    if refused:
        # Before superseding: cancelling a refresh for a rollout AWS will refuse helps no one.
        return RolloutState(rollout, Phase.BLOCKED, refused, active)
    if active is not None:
        return _superseding(active, group=group, template=template, rollout=rollout)
    return RolloutState(rollout)


def _active(refreshes: tuple[ObservedRefresh, ...]) -> ObservedRefresh | None:
    """The refresh under way, if any. A status this release does not know counts only on the
    newest refresh: AWS runs one refresh at a time, so an older one has ended, whatever it says.
    """
    return next(
        (
            r
            for index, r in enumerate(refreshes)
            if r.status.active and (index == 0 or r.status is not RefreshStatus.UNKNOWN)
        ),
        None,
    )


def _unknown_message(refresh: ObservedRefresh) -> str:
    return (
        f"instance refresh {refresh.refresh_id} reports status {refresh.status_text!r}, which"
        " this release of asg-reconciler does not know; not acting on the group until it"
        " reports a known status (upgrade asg-reconciler if it persists)"
    )


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


def _progressing(
    desired: DesiredService,
    observed: ObservedService,
    *,
    group: ObservedAutoScalingGroup,
    refresh: ObservedRefresh,
    number: int,
    rollout: tuple[Change, ...],
) -> RolloutState:
    result = judgement.judged(desired, observed)
    if refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS:
        state = _rolling_back(desired, group=group, refresh=refresh, number=number, rollout=rollout)
        return dataclasses.replace(state, analysis=result)
    if judgement.must_stop(desired, group=group, refresh=refresh, result=result):
        return RolloutState(
            judgement.stop_change(desired, refresh),
            Phase.FAILED,
            judgement.stop_message(desired, refresh=refresh, number=number, result=result),
            refresh,
            failed_marker(desired, refresh_id=refresh.refresh_id),
            result,
        )
    rolling = (
        f"rolling out {desired.image.describe()} as launch template version {number}: "
        f"instance refresh {refresh.refresh_id} {refresh.status_text}, "
        f"{refresh.percentage_complete}% complete"
    )
    held = checkpoint.gate(desired.spec.rollout, refresh, result=result, inputs=observed.analysis)
    if held is not None:
        state = _at_checkpoint(observed, group=group, refresh=refresh, held=held, rolling=rolling)
        return dataclasses.replace(state, analysis=result)
    message = rolling + _cancelled_at_checkpoint(observed, group=group, refresh=refresh)
    # The refresh already carries the rollout; only settings drift is left to correct.
    return RolloutState(
        (), Phase.PROGRESSING, message + judgement.summary(result), refresh, analysis=result
    )


def _at_checkpoint(
    observed: ObservedService,
    *,
    group: ObservedAutoScalingGroup,
    refresh: ObservedRefresh,
    held: checkpoint.Gate,
    rolling: str,
) -> RolloutState:
    """Held at a checkpoint: hold on, or go past it (tag the group, then cancel the refresh)."""
    if held.move is checkpoint.Move.CONTINUE:
        marker = checkpoint.next_marker(observed.refreshes, group.tags, checkpoint=held.checkpoint)
        ahead = ", ".join(f"{p}%" for p in held.remaining) or "none"
        message = (
            f"{rolling}; going past checkpoint {held.checkpoint}%: {held.why}; cancelling"
            f" instance refresh {refresh.refresh_id} (nothing is rolled back) to start one"
            f" with SkipMatching for the remaining instances (checkpoints ahead: {ahead})"
        )
        change = checkpoint.continue_change(refresh, marker)
        return RolloutState((change,), Phase.PROGRESSING, message, refresh)
    message = f"{rolling}; holding at checkpoint {held.checkpoint}%: {held.why}"
    return RolloutState((), Phase.PROGRESSING, message, refresh)


def _cancelled_at_checkpoint(
    observed: ObservedService, *, group: ObservedAutoScalingGroup, refresh: ObservedRefresh
) -> str:
    """A clause for our own cancel at a checkpoint while AWS finishes it (Cancelling)."""
    marker = checkpoint.passed_marker(group.tags)
    if marker is None or marker.refresh_id != refresh.refresh_id:
        return ""
    return (
        f"; going past checkpoint {marker.checkpoint}%: waiting for the cancel to finish, then"
        " a refresh with SkipMatching takes on the remaining instances"
    )


def _failed(
    desired: DesiredService,
    observed: ObservedService,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
) -> bool:
    number = desired_version(desired, template)
    found = number.version_number if number else None
    return failure(desired, observed, group=group, template=template, number=found) is not None


def _continuation(
    observed: ObservedService,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    number: int | None,
) -> str | None:
    """What to say when the continuation past a checkpoint is to be started, else None."""
    marker = checkpoint.pending(observed.refreshes, group.tags)
    if marker is None or number is None:
        return None
    cancelled = observed.refreshes[0]
    if refresh_version(cancelled, group=group, template=template) != number:
        return None  # the desired state moved on since: an ordinary rollout
    ahead = checkpoint.remaining(cancelled, marker.checkpoint)
    shown = ", ".join(f"{p}%" for p in ahead) or "none"
    return (
        f"instance refresh {cancelled.refresh_id} was cancelled to go past checkpoint"
        f" {marker.checkpoint}%: starting a refresh of version {number} with SkipMatching for"
        f" the remaining instances (checkpoints ahead: {shown})"
    )


def _rolling_back(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    refresh: ObservedRefresh,
    number: int,
    rollout: tuple[Change, ...],
) -> RolloutState:
    """The refresh for the desired version is being undone: rule 4's failure already, unless
    a retry was asked for or the spec changed since the failure was tagged."""
    if group.tags.get(TAG_RETRIED_REFRESH) == refresh.refresh_id:
        # `reconciler retry` during the rollback: let it finish, then roll out again. Calling
        # it FAILED here would tag the fingerprint failed again and undo the retry.
        why = "retry requested"
    elif accounted_elsewhere(desired, group, refresh):
        why = "the desired state changed since it failed"
    else:
        message = (
            f"instance refresh {refresh.refresh_id} for version {number} is rolling back"
            f"{reason(refresh, group)}; fingerprint {desired.fingerprint} will not be retried"
        )
        marker = failed_marker(desired, refresh_id=refresh.refresh_id)
        return RolloutState(rollout, Phase.FAILED, message, refresh, marker)
    message = (
        f"instance refresh {refresh.refresh_id} for version {number} is rolling back;"
        f" {why}: rolling out again once the rollback ends"
    )
    return RolloutState((), Phase.PROGRESSING, message, refresh)


def _superseding(
    refresh: ObservedRefresh,
    *,
    group: ObservedAutoScalingGroup,
    template: ObservedLaunchTemplate,
    rollout: tuple[Change, ...],
) -> RolloutState:
    version = refresh_version(refresh, group=group, template=template)
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
    message = f"{what} is {refresh.status_text} for an older desired state; cancelling it first"
    return RolloutState((*rollout, cancel), Phase.SUPERSEDING, message, refresh)
