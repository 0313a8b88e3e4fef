"""How a rollout ended, told from one pass after another: succeeded, failed, rolled back or
superseded, for the rollout-outcome counter.

Both strategies end the same few ways, and each end is seen once:

- **failed / rolled_back**: the pass that writes the failed marker (``MarkFailed``, written once
  per failure: the next passes find the tag). Rolled back when the previous revision was put
  back: this pass rolled the refresh back or moved the traffic back (blue/green), or AWS rolled
  the refresh back itself (``RollbackDetails`` or a ``Rollback*`` status). Failed otherwise: a
  refresh cancelled with autoRollback off, a blue/green side that failed before taking traffic.
- **superseded**: a rollout in flight was replaced by a newer desired state: the pass cancelled
  an older state's refresh (``Superseding``), or the desired fingerprint changed under a rollout.
- **succeeded**: a service this daemon saw rolling out is in sync with the same desired state.

Success needs memory (the rollout seen in flight), so a daemon that restarts mid-rollout counts
it only if it sees the rollout again before it ends; counters start again at 0 on a restart,
which ``increase()`` handles.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model import (
    CancelInstanceRefresh,
    MarkFailed,
    Phase,
    RefreshStatus,
    RollbackInstanceRefresh,
    ServiceOutcome,
    SetForwardWeights,
    StartInstanceRefresh,
)

SUCCEEDED = "succeeded"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
SUPERSEDED = "superseded"
OUTCOMES = (SUCCEEDED, FAILED, ROLLED_BACK, SUPERSEDED)

_ROLLING_BACK = frozenset(
    {
        RefreshStatus.ROLLBACK_IN_PROGRESS,
        RefreshStatus.ROLLBACK_SUCCESSFUL,
        RefreshStatus.ROLLBACK_FAILED,
    }
)


class RolloutTracker:
    """The rollout each service has in flight (its desired fingerprint), and how it ended."""

    def __init__(self) -> None:
        self._in_flight: dict[str, str] = {}

    def ended(self, outcome: ServiceOutcome) -> list[str]:
        """The outcomes this pass saw (usually none; a superseded rollout and the new one's
        end may come in one pass)."""
        diff, desired = outcome.diff, outcome.desired
        if diff is None or desired is None:
            return []  # the pass stopped early: nothing is known of the rollout
        name, fingerprint = outcome.name, desired.fingerprint
        done = outcome.applied.done if outcome.applied is not None else []
        found: list[str] = []
        before = self._in_flight.get(name)
        cancelled = diff.phase is Phase.SUPERSEDING and _any(done, CancelInstanceRefresh)
        if cancelled or (before is not None and before != fingerprint):
            found.append(SUPERSEDED)
            self._in_flight.pop(name, None)
            before = None
        if _any(done, MarkFailed):
            found.append(ROLLED_BACK if _rolled_back(outcome) else FAILED)
            self._in_flight.pop(name, None)
        elif diff.phase is Phase.IN_SYNC and before == fingerprint:
            found.append(SUCCEEDED)
            self._in_flight.pop(name, None)
        elif diff.phase is Phase.PROGRESSING or _any(done, StartInstanceRefresh):
            # Not SUPERSEDING: the refresh then in flight is an older state's, not this one's.
            self._in_flight[name] = fingerprint
        return found

    def forget(self, name: str) -> None:
        self._in_flight.pop(name, None)


def _any(done: Sequence[object], kind: type) -> bool:
    return any(isinstance(action, kind) for action in done)


def _rolled_back(outcome: ServiceOutcome) -> bool:
    """Whether the failed rollout's previous revision was put back (by us or by AWS)."""
    done = outcome.applied.done if outcome.applied is not None else []
    if _any(done, RollbackInstanceRefresh) or _any(done, SetForwardWeights):
        return True
    diff, observed = outcome.diff, outcome.observed
    if diff is None or diff.blue_green is not None:
        return False
    refresh = diff.refresh or (observed.refreshes[0] if observed and observed.refreshes else None)
    return refresh is not None and (refresh.rollback is not None or refresh.status in _ROLLING_BACK)
