"""The rollout analysis's say in the diff: a rollout under way that the analysis fails is stopped.

While the refresh for the desired version runs (Pending, InProgress, Baking), the analysis's
verdict (``pipeline.analysis.judge``, over what observe read) decides whether it may go on. On
FAIL, or when the group's failed tag already records this rollout failing in this very refresh
(the verdict was reached on an earlier tick and the stop did not take), the rollout is FAILED
and the refresh is stopped: rolled back by AWS (``autoRollback``), or cancelled without it.
"""

from __future__ import annotations

from reconciler.model import (
    AnalysisResult,
    Change,
    ChangeKind,
    DesiredService,
    ObservedAutoScalingGroup,
    ObservedRefresh,
    ObservedService,
    RefreshStatus,
    Resource,
    Verdict,
)
from reconciler.pipeline import analysis
from reconciler.pipeline.diff.failure import group_marker

_STOPPABLE = frozenset({RefreshStatus.PENDING, RefreshStatus.IN_PROGRESS, RefreshStatus.BAKING})


def judged(desired: DesiredService, observed: ObservedService) -> AnalysisResult | None:
    """The analysis of the rollout under way; None when it is off or nothing was read."""
    spec = desired.spec.rollout
    if not spec.analysis.enabled or observed.analysis is None:
        return None
    return analysis.judge(spec.analysis, observed.analysis, alarm_names=spec.alarms)


def must_stop(
    desired: DesiredService,
    *,
    group: ObservedAutoScalingGroup,
    refresh: ObservedRefresh,
    result: AnalysisResult | None,
) -> bool:
    """Whether the refresh must be stopped: failed now, or failed earlier in this refresh."""
    if result is not None and result.verdict is Verdict.FAIL:
        return True
    marker = group_marker(group)
    return marker is not None and marker.fails(desired) and marker.refresh_id == refresh.refresh_id


def stop_change(desired: DesiredService, refresh: ObservedRefresh) -> tuple[Change, ...]:
    """The refresh's next status: rolled back with autoRollback, else cancelled; nothing while
    it is already on its way out (Cancelling)."""
    if refresh.status not in _STOPPABLE:
        return ()
    target = RefreshStatus.ROLLBACK_IN_PROGRESS
    if not desired.spec.rollout.auto_rollback:
        target = RefreshStatus.CANCELLED
    return (
        Change(
            Resource.INSTANCE_REFRESH,
            refresh.refresh_id,
            "status",
            refresh.status.value,
            target.value,
            ChangeKind.UPDATE,
        ),
    )


def stop_message(
    desired: DesiredService,
    *,
    refresh: ObservedRefresh,
    number: int,
    result: AnalysisResult | None,
) -> str:
    why = f"analysis failed: {result.message}" if result is not None else "analysis failed"
    if result is None or result.verdict is not Verdict.FAIL:
        why = "analysis failed earlier in this refresh (recorded on the group)"
    if not desired.spec.rollout.auto_rollback:
        action = (
            f"cancelling instance refresh {refresh.refresh_id}; instances already on version"
            f" {number} keep running it (autoRollback is off): revert the commit to replace them"
        )
    else:
        action = f"rolling back instance refresh {refresh.refresh_id}"
    return (
        f"{why}; {action}; fingerprint {desired.fingerprint} will not be retried until the"
        " desired state changes"
    )


def summary(result: AnalysisResult | None) -> str:
    """A clause for the Progressing message: the verdict so far."""
    if result is None:
        return ""
    return f"; analysis {result.verdict.value.lower()}: {result.message}"
