"""What happens next to a service's rollout, in one sentence for status and the status page.

Pure: read from one pass's record (the diff, its refresh and analysis, and the spec).
"""

from __future__ import annotations

from reconciler.model import (
    AnalysisResult,
    Diff,
    ObservedRefresh,
    Phase,
    RefreshStatus,
    Resource,
    ServiceOutcome,
    Verdict,
)
from reconciler.pipeline.analysis.text import clock
from reconciler.pipeline.diff import checkpoint
from reconciler.pipeline.diff.restore import FIELD as RESTORE


def next_step(outcome: ServiceOutcome) -> str:
    diff = outcome.diff
    if outcome.error is not None or diff is None:
        return "the next pass retries" if outcome.error is not None else ""
    if outcome.queued is not None:
        return "the rollout starts once a slot frees (--max-concurrent-rollouts)"
    if diff.blue_green is not None:  # the decision says, with the step and the side
        return diff.blue_green.next
    if diff.phase is Phase.FAILED:
        return _after_failure(diff)
    if diff.phase is Phase.PROGRESSING and diff.refresh is not None:
        held = _at_checkpoint(outcome, diff.refresh)
        return held or _while_rolling_out(diff.refresh, diff.analysis)
    if diff.phase is Phase.SUPERSEDING:
        return "the older refresh is cancelled, then the desired state rolls out"
    if diff.phase is Phase.OUT_OF_SYNC and diff.refresh is not None:
        return (
            "a refresh with SkipMatching takes the rollout past the checkpoint; the analysis"
            " goes on judging it as the same rollout"
        )
    if diff.phase is Phase.OUT_OF_SYNC:
        return "the next pass applies the changes"
    return ""


def _at_checkpoint(outcome: ServiceOutcome, refresh: ObservedRefresh) -> str:
    """The checkpoint is a gate: what it waits for, or that the rollout goes past it."""
    diff = outcome.diff
    assert diff is not None
    if any(c.field == checkpoint.FIELD for c in diff.changes):
        return (
            f"instance refresh {refresh.refresh_id} is cancelled at its checkpoint (nothing is"
            " rolled back), then a refresh with SkipMatching replaces the remaining instances"
        )
    inputs = outcome.observed.analysis if outcome.observed else None
    gate = checkpoint.gate(outcome.spec.rollout, refresh, result=diff.analysis, inputs=inputs)
    if gate is None or gate.move is not checkpoint.Move.HOLD:
        return ""
    return (
        f"holding at checkpoint {gate.checkpoint}% until the analysis passes and the"
        f" checkpointDelay ({checkpoint.least_hold(outcome.spec.rollout)} s) is over: {gate.why}"
    )


def _after_failure(diff: Diff) -> str:
    refreshes = [c for c in diff.changes if c.resource is Resource.INSTANCE_REFRESH]
    stop = next((c for c in refreshes if c.field == "status"), None)
    restore = next((c for c in diff.changes if c.field == RESTORE), None)
    if stop is None and restore is not None:
        return (
            f"a refresh to version {restore.new} with SkipMatching puts the previous version"
            f" back on {restore.old}"
        )
    if stop is not None and stop.new == RefreshStatus.ROLLBACK_IN_PROGRESS.value:
        return (
            f"AWS rolls back instance refresh {stop.resource_name}: the instances it replaced"
            " get the previous version again"
        )
    if stop is not None:
        return f"instance refresh {stop.resource_name} is cancelled; nothing is rolled back"
    refresh = diff.refresh
    if refresh is not None and refresh.status is RefreshStatus.ROLLBACK_IN_PROGRESS:
        return (
            f"AWS is rolling back instance refresh {refresh.refresh_id}"
            f" ({refresh.percentage_complete}% complete); then the service stays on the"
            " previous version until a new commit"
        )
    return "nothing, until a commit changes the desired state or `reconciler retry` is run"


def _while_rolling_out(refresh: ObservedRefresh, result: AnalysisResult | None) -> str:
    aws = (
        "AWS bakes the new version before the refresh counts as successful"
        if refresh.status is RefreshStatus.BAKING
        else f"AWS goes on replacing instances ({refresh.percentage_complete}% complete)"
    )
    if result is None:
        return aws
    if result.verdict is Verdict.PENDING and result.traffic_start is None:
        return f"{aws}; the analysis starts once the first new instance takes traffic"
    parts = [aws]
    if result.next_sample_at is not None:
        parts.append(f"next metric sample at {clock(result.next_sample_at)}")
    if result.verdict is Verdict.PASS:
        parts.append("the analysis keeps judging until the refresh ends")
    return "; ".join(parts)
