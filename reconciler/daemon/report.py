"""What the daemon tells about itself: ``/status``, ``/readyz``, the metrics and the log.

Each pass of a service is recorded once (its result, status, metrics and log line). While the
newest commit is refused, every service shows Stalled (and not Ready), naming the commit.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from reconciler import errors
from reconciler.daemon.lease import Lease
from reconciler.daemon.listeners import TickView
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.revisions import DesiredError, Followed, Revisions
from reconciler.daemon.rollouts import RolloutTracker
from reconciler.daemon.shards import ShardLeases
from reconciler.model import Phase, stops_refresh
from reconciler.pipeline.orphans import Claim
from reconciler.pipeline.reconcile import ServiceOutcome
from reconciler.pipeline.status import Condition, ServiceStatus, service_status

log = structlog.get_logger("reconciler.daemon.report")


# Deprecated names of /status keys → their snake_case names (README: "/status").
CAMEL_ALIASES = {
    "lastGoodRevision": "last_good_revision",
    "desiredError": "desired_error",
    "sourceError": "source_error",
    "lastTick": "last_tick",
}


class Report:
    """The services' statuses, the role and the last tick, readable from any thread."""

    def __init__(
        self, *, revisions: Revisions, metrics: Metrics, lease: Lease | ShardLeases | None
    ) -> None:
        self._revisions = revisions
        self._metrics = metrics
        self._lease = lease
        self._lock = threading.Lock()
        # Without a lease this instance is the only writer: "single", and the lease gauge (1 on
        # the instance that may write) says 1, so the two never disagree.
        self._role = "standby" if lease else "single"
        if lease is None:
            metrics.leading(True)
        self._statuses: dict[str, ServiceStatus] = {}
        self._rollouts = RolloutTracker()
        self._reconciled: str | None = None  # the good revision a pass last completed for
        self._last_tick: str | None = None
        self._ended: dict[str, list[str]] = {}  # this tick's rollout outcomes, by service
        self._orphans: tuple[Claim, ...] = ()  # groups claimed for services no longer in git

    # -- what the server asks ----------------------------------------------------------------

    def ready(self) -> bool:
        """Whether a pass completed for the revision the daemon reconciles."""
        followed = self._revisions.current()
        with self._lock:
            return self._ready(followed)

    def statuses(self) -> dict[str, ServiceStatus]:
        with self._lock:
            return dict(self._statuses)

    def document(self) -> dict[str, Any]:
        """The ``/status`` document: snake_case keys throughout, as the services' entries (and
        ``reconciler status -o json``) have them. ``CAMEL_ALIASES`` keeps the four top-level
        names it had in camelCase, with the same values, for readers written before."""
        followed = self._revisions.current()
        desired_error = followed.desired_error
        with self._lock:
            document = {
                "revision": followed.revision,
                "last_good_revision": followed.good.revision if followed.good else None,
                "desired_error": desired_error.to_dict() if desired_error else None,
                "source_error": followed.source_error,
                "source": self._revisions.source.description,
                "role": self._role,
                "leader": self._lease.leader if self._lease else None,
                "shards": self._shards(),
                "ready": self._ready(followed),
                "last_tick": self._last_tick,
                "services": [s.to_dict() for _, s in sorted(self._statuses.items())],
                "orphans": [
                    {"service": c.service, "group": c.group, "region": c.region}
                    for c in self._orphans
                ],
            }
        document.update({old: document[new] for old, new in CAMEL_ALIASES.items()})
        return document

    def _shards(self) -> dict[str, Any] | None:
        """``--shard``: this daemon's home shard and the shards it holds now (1-based)."""
        if not isinstance(self._lease, ShardLeases):
            return None
        return {"home": str(self._lease.home), "held": self._lease.held_shards()}

    def _ready(self, followed: Followed) -> bool:
        return followed.good is not None and self._reconciled == followed.good.revision

    # -- what a tick records -----------------------------------------------------------------

    def orphans(self, found: Sequence[Claim]) -> None:
        """The last scan's orphans: in ``/status``, the metric, and logged when they change."""
        with self._lock:
            before, self._orphans = self._orphans, tuple(found)
        self._metrics.orphans(sorted({c.service for c in found}))
        if before != self._orphans:
            for claim in found:
                log.warning(
                    "orphaned_service",
                    service=claim.service,
                    group=claim.group,
                    region=claim.region,
                    hint=f"reconciler release {claim.service}",
                )

    def leading(self, leading: bool) -> None:
        self._metrics.leading(leading)
        with self._lock:
            self._role = "leader" if leading else "standby"

    def record(
        self, outcome: ServiceOutcome, *, seconds: float, writing: bool, retry_in: float | None
    ) -> None:
        """One service's pass: its metrics, its status and its log line."""
        result = _result(outcome, writing=writing)
        diff = outcome.diff
        status = service_status(outcome)
        self._metrics.reconciled(
            name=outcome.name,
            result=result,
            seconds=seconds,
            changes=len(diff.changes) if diff else 0,
            phase=diff.phase.value if diff else "Error",
            progress=_progress(outcome, status),
        )
        if isinstance(outcome.error, errors.WriterConflict):
            self._metrics.writer_conflict(outcome.name)
        ended = self._rollouts.ended(outcome)
        self._metrics.rollouts(outcome.name, ended)
        if ended:
            self._ended[outcome.name] = ended
        self._metrics.analysed(name=outcome.name, result=status.analysis, stopped=_stopped(outcome))
        if status.blue_green is not None:
            sides = status.blue_green.sides
            self._metrics.blue_green(
                name=outcome.name,
                stage=status.blue_green.stage,
                weights={side.color: side.weight for side in sides},
            )
        applied = status.applied
        self._metrics.revisions(
            name=outcome.name,
            applied=applied.revision if applied else None,
            desired=outcome.spec.source.revision,
            version=applied.launch_template_version if applied else None,
            image=applied.image if applied else None,
        )
        with self._lock:
            self._statuses[outcome.name] = status
        _log_outcome(outcome, result=result, retry_in=retry_in)

    def finish_tick(
        self,
        outcomes: Sequence[ServiceOutcome],
        *,
        followed: Followed,
        leading: bool = True,
        owned: Callable[[str], bool] = lambda _: True,
    ) -> TickView:
        """Forget services that left, stall them all while a commit is refused, mark the pass;
        what the listeners are told of it."""
        # ``--shard``: a service of a shard handed back is its new holder's to report.
        names = {s.name for s in followed.specs if owned(s.name)}
        error = followed.desired_error
        self._metrics.known(sorted(names))
        with self._lock:
            for gone in set(self._statuses) - names:
                del self._statuses[gone]
                self._metrics.forget(gone)
                self._rollouts.forget(gone)
            if error is not None:
                self._statuses = {
                    name: _stalled_by(status, error) for name, status in self._statuses.items()
                }
            for name, status in self._statuses.items():
                self._metrics.conditions(name, status.conditions)
            completed = outcomes and not any(
                isinstance(o.error, errors.Interrupted) for o in outcomes
            )
            if followed.good is not None and completed:
                self._reconciled = followed.good.revision
            self._last_tick = datetime.now(UTC).isoformat(timespec="seconds")
            ended, self._ended = self._ended, {}
            statuses = dict(self._statuses)
        return TickView(outcomes, statuses, followed, ended=ended, leading=leading)


def _result(outcome: ServiceOutcome, *, writing: bool) -> str:
    error = outcome.error
    if error is not None:
        return "temporary_error" if isinstance(error, errors.TemporaryError) else "permanent_error"
    if outcome.applied is not None and outcome.applied.done:
        return "applied"
    if not writing and outcome.plan is not None and not outcome.plan.empty:
        return "standby"
    if outcome.diff is not None and outcome.diff.in_sync:
        return "in_sync"
    return "pending"  # waiting on a refresh, or blocked: the status says which


def _stopped(outcome: ServiceOutcome) -> bool:
    """Whether this pass stopped a rollout for the analysis (rolled back or cancelled it)."""
    if outcome.diff is None or outcome.applied is None:
        return False
    return stops_refresh(outcome.diff.phase, outcome.applied.done)


def _progress(outcome: ServiceOutcome, status: ServiceStatus) -> float | None:
    """The rollout in flight for the desired state, 0 to 1: the refresh's percentage, or
    blue/green's share of the traffic on the target side. None (the series is absent) when no
    rollout is in flight, so "stuck" alerts only ever see rollouts."""
    diff = outcome.diff
    if diff is None or diff.phase is not Phase.PROGRESSING:
        return None
    if status.blue_green is not None:
        target = status.blue_green.target
        return next(s.weight for s in status.blue_green.sides if s.color == target) / 100
    if diff.refresh is not None and diff.refresh.status.active:
        return diff.refresh.percentage_complete / 100
    return None


def _log_outcome(outcome: ServiceOutcome, *, result: str, retry_in: float | None) -> None:
    plan = outcome.plan
    done = outcome.applied.done if outcome.applied else []
    fields: dict[str, Any] = {
        "service": outcome.name,
        "revision": outcome.spec.source.revision,
        "action": ",".join(a.kind.name.lower() for a in done) or "none",
        "result": result,
        "phase": outcome.diff.phase.value if outcome.diff else None,
        "changes": len(outcome.diff.changes) if outcome.diff else 0,
    }
    analysis = outcome.diff.analysis if outcome.diff else None
    if analysis is not None:
        fields["analysis"] = analysis.verdict.value
        fields["analysis_message"] = analysis.message
    if result == "standby" and plan is not None:
        fields["planned"] = ",".join(a.kind.name.lower() for a in plan.actions)
    if outcome.error is not None:
        fields["error"] = str(outcome.error)
        fields["retry_in"] = retry_in
        log.warning("reconcile", **fields)
    else:
        log.info("reconcile", **fields)


def _stalled_by(status: ServiceStatus, error: DesiredError) -> ServiceStatus:
    """The status with Stalled (and not Ready) set: the newest commit cannot be applied."""
    message = f"commit {error.revision[:12]} refused: {error.message}"
    replaced: dict[str, Condition] = {
        "Ready": Condition("Ready", False, error.reason, message),
        "Stalled": Condition("Stalled", True, error.reason, message),
    }
    conditions = tuple(replaced.get(c.type, c) for c in status.conditions)
    return dataclasses.replace(status, conditions=conditions)
