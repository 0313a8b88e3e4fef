"""``apply --wait``: reconcile until every service has settled, then say how each one ended.

A service has settled when it is Ready, Stalled (it cannot act), or its rollout failed *and AWS
has finished with that failure*. With AutoRollback a failed refresh keeps its id and moves through
``RollbackInProgress`` to ``RollbackSuccessful`` or ``RollbackFailed`` (aws-facts 1.7), and only
then do the group's instances run what they will run from now on, so a service whose refresh is
still rolling back is followed on. Without AutoRollback the refresh ends ``Failed`` and the group
keeps whatever it had replaced by then (1.4: a failure rolls nothing back). Either way AWS takes
its time: it retries failing new instances for an hour before it fails the refresh (1.5), so
nothing here assumes minutes; the caller's timeout is the only bound.

The decision is pure, over plain data: ``sighting`` reads what one pass showed of a service,
``standing`` says where that service stands, ``verdict`` combines the standings. Once a rollout
failed, ``pipeline.aftermath`` says which launch template versions and images the instances run.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reconciler.model import (
    ConditionType,
    ObservedRefresh,
    Reason,
    RefreshStatus,
    Resource,
    ServiceOutcome,
    ServiceSpec,
    stops_refresh,
    value_text,
)
from reconciler.pipeline.diff.checkpoint import (
    AWS_DEFAULT_DELAY,
    HOLD_DELAY,
    at_checkpoint,
)
from reconciler.pipeline.diff.checkpoint import FIELD as CHECKPOINT
from reconciler.pipeline.diff.restore import FIELD as RESTORE
from reconciler.pipeline.diff.versions import current_version, refresh_version
from reconciler.pipeline.reconcile import Reconciler
from reconciler.pipeline.status import (
    ServiceStatus,
    service_status,
)


class Verdict(enum.IntEnum):
    """Exit codes of ``apply --wait``."""

    READY = 0
    ERROR = 1
    FAILED = 3
    TIMEOUT = 4


class Standing(enum.StrEnum):
    """Where one service stands after a pass."""

    FOLLOWING = "following"  # a rollout or a change is still under way
    ROLLING_BACK = "rolling back"  # failed; AWS is still putting the previous version back
    READY = "ready"
    FAILED = "failed"  # failed, and AWS has finished with it (rolled back, or not)
    STALLED = "stalled"  # cannot act: an error, a missing or foreign resource, paused


@dataclass(frozen=True, slots=True)
class Sighting:
    """What one pass showed of one service, as far as the verdict needs it."""

    ready: bool  # the Ready condition holds
    stalled: bool  # the Stalled condition holds
    failed: bool  # Degraded because the desired revision's rollout failed
    pending: bool = False  # the plan still had actions to apply
    refresh: RefreshStatus | None = None  # the newest refresh's status; None: no refresh
    stopping: bool = False  # the plan rolls back (or cancels) the refresh the analysis failed
    restoring: bool = False  # a refresh back to the group's own version is due or under way


def sighting(outcome: ServiceOutcome, status: ServiceStatus) -> Sighting:
    refreshes = outcome.observed.refreshes if outcome.observed is not None else ()
    return Sighting(
        ready=status.condition(ConditionType.READY).status,
        stalled=status.condition(ConditionType.STALLED).status,
        failed=status.condition(ConditionType.DEGRADED).reason == Reason.ROLLOUT_FAILED,
        pending=outcome.plan is not None and not outcome.plan.empty,
        refresh=refreshes[0].status if refreshes else None,
        stopping=_stops(outcome),
        restoring=_restoring(outcome),
    )


def _stops(outcome: ServiceOutcome) -> bool:
    """The pass's plan stops the refresh the analysis failed (only FAILED plans do)."""
    plan = outcome.plan
    return plan is not None and stops_refresh(plan.phase, plan.actions)


def _restoring(outcome: ServiceOutcome) -> bool:
    """After a failed checkpoint chain AWS's rollback leaves the earlier refreshes' instances on
    the failed version, and a restore refresh puts them back (``diff.restore``): the failure
    has not ended until that one has. It is due when the pass planned it, under way when the
    active refresh rolls out the version the group itself launches."""
    if outcome.diff is not None and any(c.field == RESTORE for c in outcome.diff.changes):
        return True
    observed = outcome.observed
    if observed is None or observed.auto_scaling_group is None:
        return False
    group, template = observed.auto_scaling_group, observed.launch_template
    active = next((r for r in observed.refreshes if r.status.active), None)
    if active is None or template is None:
        return False
    own = current_version(group, template)
    return own is not None and refresh_version(active, group=group, template=template) == own


def standing(seen: Sighting) -> Standing:
    if seen.stalled:
        return Standing.STALLED
    if seen.failed:
        # Only a rollback is the failed rollout's own ending; another active refresh (someone
        # else's) is no reason to wait, and may run for hours. A pass that stopped the refresh
        # (the analysis failed it) has just asked for that rollback: the refresh it read does
        # not show it yet.
        if seen.stopping or seen.restoring or seen.refresh is RefreshStatus.ROLLBACK_IN_PROGRESS:
            return Standing.ROLLING_BACK
        return Standing.FAILED
    if seen.ready and not seen.pending:
        return Standing.READY
    return Standing.FOLLOWING


_UNSETTLED = frozenset({Standing.FOLLOWING, Standing.ROLLING_BACK})


def verdict(standings: Sequence[Standing]) -> Verdict | None:
    """The exit once every service has settled; None while one is still under way.

    A failed rollout outranks a stalled service: it is the news ``apply --wait`` was waiting for.
    """
    if any(s in _UNSETTLED for s in standings):
        return None
    if Standing.FAILED in standings:
        return Verdict.FAILED
    if Standing.STALLED in standings:
        return Verdict.ERROR
    return Verdict.READY


def judge(outcomes: Sequence[ServiceOutcome], statuses: Sequence[ServiceStatus]) -> Verdict | None:
    """A final verdict for one pass, or None to keep following."""
    return verdict([standing(sighting(o, s)) for o, s in zip(outcomes, statuses, strict=True)])


def failed(outcomes: Sequence[ServiceOutcome]) -> list[ServiceOutcome]:
    """The services whose desired revision's rollout failed, as ``sighting`` sees it."""
    return [o for o in outcomes if sighting(o, service_status(o)).failed]


@dataclass(frozen=True)
class Followed:
    verdict: Verdict
    outcomes: Sequence[ServiceOutcome]  # the last pass's


# A change seen by the operator: the resource, the field, and the value it was to get.
ChangeKey = tuple[str, str, str]
# Fields whose change is the rollout's own next move, not a new change: going past a
# checkpoint, and the refresh that puts back what a failed checkpoint chain left.
_ROLLOUT_MOVES = frozenset({CHECKPOINT, RESTORE})


def change_keys(outcomes: Sequence[ServiceOutcome]) -> set[ChangeKey]:
    """The changes each pass's diff shows, as the operator saw them."""
    return {
        (c.resource_name, c.field, value_text(c.new))
        for o in outcomes
        if o.diff is not None
        for c in o.diff.changes
    }


def unshown(outcomes: Sequence[ServiceOutcome], shown: set[ChangeKey]) -> list[ServiceOutcome]:
    """The services whose plan would apply a change the operator was not shown: drift during
    the wait, a restarted AWS. Moves of the rollout itself (a checkpoint, blue/green's weights)
    are what following means, and are not new."""
    found = []
    for outcome in outcomes:
        if outcome.plan is None or outcome.plan.empty or outcome.diff is None:
            continue
        # The analysis stopping the refresh it failed is the rollout ending, not a new change.
        stopping = _stops(outcome)
        new = [
            c
            for c in outcome.diff.changes
            if (c.resource_name, c.field, value_text(c.new)) not in shown
            and c.field not in _ROLLOUT_MOVES
            and c.resource is not Resource.LISTENER
            and not (stopping and c.resource is Resource.INSTANCE_REFRESH)
        ]
        if new:
            found.append(outcome)
    return found


# Approves a pass's new changes (shown to the operator first), or refuses them: False stops.
Approve = Callable[[Sequence[ServiceOutcome]], bool]


@dataclass
class Follower:
    """Follows the rollout ``apply`` started: each poll applies only what the operator saw
    (``shown``, from the first diff); a pass with anything else goes to ``approve`` first, and
    ``apply --wait`` stops when it is refused (issue 17 #6). ``until`` says when to stop (by
    default, when every service settled: ``judge``)."""

    reconciler: Reconciler
    specs: Sequence[ServiceSpec]
    timeout: float
    interval: float = 5.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    report: Callable[[ServiceStatus], None] = lambda _status: None
    shown: set[ChangeKey] = field(default_factory=set)
    approve: Approve = lambda _outcomes: False
    until: Callable[[Sequence[ServiceOutcome], Sequence[ServiceStatus]], Verdict | None] = (
        lambda outcomes, statuses: judge(outcomes, statuses)
    )
    refused: bool = False  # the last run stopped at changes it was not allowed to apply

    def run(self) -> Followed:
        deadline = self.clock() + self.timeout
        while True:
            outcomes = self.reconciler.compute(self.specs)
            if unshown(outcomes, self.shown):
                if not self.approve(outcomes):
                    self.refused = True
                    return Followed(Verdict.ERROR, outcomes)
                self.shown |= change_keys(outcomes)
            self.reconciler.apply(outcomes)
            statuses = [service_status(o) for o in outcomes]
            for status in statuses:
                self.report(status)
            found = self.until(outcomes, statuses)
            if found is not None:
                return Followed(found, outcomes)
            if self.clock() >= deadline:
                return Followed(Verdict.TIMEOUT, outcomes)
            self.sleep(self.interval)


def progress_line(status: ServiceStatus) -> str:
    """``feedback: Progressing RefreshInProgress 50% (1 to update, InProgress): ...``: a poll."""
    ready = status.condition(ConditionType.READY)
    if ready.status:
        return f"{status.name}: Ready"
    active = next((c for c in status.conditions[1:] if c.status), ready)
    line = f"{status.name}: {active.type} {active.reason}"
    if status.refresh is not None:
        r = status.refresh
        line += f" {r.percentage_complete}% ({r.instances_to_update} to update, {r.status_text})"
        if r.status is RefreshStatus.ROLLBACK_IN_PROGRESS:
            line += " waiting for AWS to finish the rollback"
        line += _checkpoint_text(r)
    return f"{line}: {active.message}" if active.message else line


def _checkpoint_text(refresh: ObservedRefresh) -> str:
    """`` paused at checkpoint 50%``, and who ends the pause: AWS's delay, or the gate."""
    checkpoint = at_checkpoint(refresh)
    if checkpoint is None:
        return ""
    delay = refresh.checkpoint_delay
    if delay is not None and delay >= HOLD_DELAY:
        return f" paused at checkpoint {checkpoint}% until the analysis passes"
    wait = AWS_DEFAULT_DELAY if delay is None else delay
    return f" paused at checkpoint {checkpoint}% (AWS waits {wait} s there)"
