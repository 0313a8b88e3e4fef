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
``standing`` says where that service stands, ``verdict`` combines the standings. ``aftermath``
says, once a rollout failed, which launch template versions and images the instances run now.
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.images.description import parse_description
from reconciler.model import (
    ConditionType,
    ObservedRefresh,
    ObservedService,
    Reason,
    RefreshStatus,
    ServiceOutcome,
    ServiceSpec,
    stops_refresh,
)
from reconciler.pipeline.diff.checkpoint import AWS_DEFAULT_DELAY, HOLD_DELAY, at_checkpoint
from reconciler.pipeline.diff.failure import group_marker, reason
from reconciler.pipeline.diff.restore import FIELD as RESTORE
from reconciler.pipeline.diff.versions import current_version, refresh_version
from reconciler.pipeline.reconcile import Reconciler
from reconciler.pipeline.status import (
    Revision,
    ServiceStatus,
    applied_revision,
    history,
    last_failed_refresh,
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


@dataclass
class Follower:
    reconciler: Reconciler
    specs: Sequence[ServiceSpec]
    timeout: float
    interval: float = 5.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    report: Callable[[ServiceStatus], None] = lambda _status: None

    def run(self) -> Followed:
        deadline = self.clock() + self.timeout
        while True:
            outcomes = self.reconciler.compute(self.specs)
            self.reconciler.apply(outcomes)
            statuses = [service_status(o) for o in outcomes]
            for status in statuses:
                self.report(status)
            found = judge(outcomes, statuses)
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


# ------------------------------------------------------------------------------------------------
# What runs now
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Running:
    """Instances of the group on one launch template version (None: not from a template)."""

    version: int | None
    count: int
    tag: str | None = None  # the image tag recorded in the version's description, if ours
    image: str | None = None  # repository@sha256:...
    revision: str | None = None  # the git revision recorded for the version


@dataclass(frozen=True, slots=True)
class Aftermath:
    """How a failed rollout left a service: the refresh, and what the instances run now."""

    service: str
    refresh: ObservedRefresh | None  # the failed refresh; None when only the failure tag says so
    running: tuple[Running, ...] = ()  # most instances first
    launches: int | None = None  # the version the group launches new instances from
    message: str = ""  # the diff's word on the failure
    auto_rollback: bool = True  # what the desired state asked of AWS
    why: str = ""  # why the refresh failed: the reconciler's record (analysis), else AWS's reason

    @property
    def mixed(self) -> bool:
        """Instances on more than one version: AWS neither finished nor undid the rollout."""
        return len(self.running) > 1

    @property
    def ended(self) -> RefreshStatus | None:
        return self.refresh.status if self.refresh is not None else None


# Instances on their way out are no longer what the group runs.
_GONE = ("Terminat", "Detach")


def aftermath(outcome: ServiceOutcome) -> Aftermath:
    observed = outcome.observed
    message = outcome.diff.message if outcome.diff is not None else ""
    auto_rollback = outcome.spec.rollout.auto_rollback
    if observed is None:
        return Aftermath(outcome.name, None, message=message, auto_rollback=auto_rollback)
    applied = applied_revision(observed)
    refresh = _failed_refresh(observed)
    why = reason(refresh, observed.auto_scaling_group) if refresh is not None else ""
    return Aftermath(
        service=outcome.name,
        refresh=refresh,
        running=running_now(observed),
        launches=applied.launch_template_version if applied else None,
        message=message,
        auto_rollback=auto_rollback,
        why=why.removeprefix(": "),
    )


def _failed_refresh(observed: ObservedService) -> ObservedRefresh | None:
    """The refresh the group's failed tag names (one the analysis cancelled looks, to AWS,
    like any cancel), else the newest refresh AWS reports failed."""
    group = observed.auto_scaling_group
    marker = group_marker(group) if group is not None else None
    if marker is not None and marker.refresh_id:
        named = next((r for r in observed.refreshes if r.refresh_id == marker.refresh_id), None)
        if named is not None:
            return named
    return last_failed_refresh(observed)


def running_now(observed: ObservedService) -> tuple[Running, ...]:
    """The group's instances by launch template version, as AWS lists them, most first."""
    group = observed.auto_scaling_group
    if group is None:
        return ()
    counts = Counter(
        _version_number(i.launch_template_version)
        for i in group.instances
        if not i.lifecycle_state.startswith(_GONE)
    )
    known = _revisions(observed)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], -(item[0] or 0)))
    return tuple(_running(number, count, known, observed) for number, count in ordered)


def _version_number(ref: str | None) -> int | None:
    return int(ref) if ref is not None and ref.isdigit() else None


def _revisions(observed: ObservedService) -> dict[int, Revision]:
    """What status and history know of each version: ours, and the one the group is on."""
    known = {r.launch_template_version: r for r in history(observed)}
    applied = applied_revision(observed)
    if applied is not None:
        known.setdefault(applied.launch_template_version, applied)
    return {number: r for number, r in known.items() if number is not None}


def _running(
    number: int | None, count: int, known: dict[int, Revision], observed: ObservedService
) -> Running:
    revision = known.get(number) if number is not None else None
    template = observed.launch_template
    version = template.version(number) if template is not None and number is not None else None
    tag = parse_description(version.description).get("tag") if version is not None else None
    return Running(
        version=number,
        count=count,
        tag=tag,
        image=revision.image if revision else None,
        revision=revision.revision if revision else None,
    )
