"""The daemon: the GitOps loop, one tick at a time.

A tick::

    lease (when configured) → fetch → verify → load (at the commit) → compute → apply → status

Each step's policy lives in a module of its own: following revisions and keeping the last good
one (``revisions``), backing off (``backoff``), the clean stop (``gate``), what is reported
(``report``) and when ticks run (``ticker``).

- **One writer.** With a lease, only the holder applies; the others compute and report
  ``standby``.
- **Clean stop.** On SIGTERM/SIGINT the call in flight finishes and no new AWS call starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from reconciler import errors
from reconciler.daemon.backoff import Backoffs
from reconciler.daemon.gate import CallGate
from reconciler.daemon.lease import Lease
from reconciler.daemon.listeners import Listeners
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.report import Report
from reconciler.daemon.revisions import Followed, Revisions
from reconciler.daemon.shards import ShardLeases
from reconciler.daemon.source import Source
from reconciler.daemon.ticker import Ticker
from reconciler.model import ServiceSpec
from reconciler.model.waves import RolloutLimits
from reconciler.pipeline import orphans, waves
from reconciler.pipeline.admit import admit_images
from reconciler.pipeline.apply import apply
from reconciler.pipeline.plan import retry
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome
from reconciler.pipeline.status import ServiceStatus
from reconciler.pipeline.writers import DAEMON, Writer

log = structlog.get_logger("reconciler.daemon.daemon")

LEASE_JOB = "lease"
# How often the daemon looks for groups still claimed for a service git no longer declares:
# one paged call per region, kept off the steady tick's budget.
ORPHAN_SCAN_SECONDS = 300.0


@dataclass(frozen=True)
class TickResult:
    ok: bool  # no fetch, desired or service error
    next_delay: float  # seconds until something is due again
    applied: int = 0  # actions applied in this tick


class Daemon:
    """Ticks: fetch, load, compute, apply. ``tick()`` runs one; ``start()`` schedules them."""

    def __init__(
        self,
        *,
        source: Source,
        reconciler: Reconciler,
        metrics: Metrics | None = None,
        lease: Lease | ShardLeases | None = None,
        interval: float = 30.0,
        jitter: float | None = None,
        backoff_base: float = 5.0,
        backoff_cap: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        rollout_limits: RolloutLimits | None = None,
    ) -> None:
        self.source = source
        self.rollout_limits = rollout_limits or RolloutLimits()
        self.reconciler = reconciler
        self.metrics = metrics or Metrics()
        self.lease = lease
        self.interval = interval
        # Several daemons started together (a deploy) should not tick in lockstep.
        self.jitter = min(interval / 10, 5.0) if jitter is None else jitter
        self.gate = CallGate()
        self._clock = clock
        self._backoffs = Backoffs(base=backoff_base, cap=backoff_cap)
        self._revisions = Revisions(
            source=source,
            metrics=self.metrics,
            backoffs=self._backoffs,
            clock=clock,
            admit=lambda specs: admit_images(specs, reconciler.resolver),
        )
        self._report = Report(revisions=self._revisions, metrics=self.metrics, lease=lease)
        self._tick_lock = threading.Lock()
        self._orphans_scanned: float | None = None
        self.listeners = Listeners()  # told of every finished tick (notifications, GitHub)
        self._ticker: Ticker | None = None
        aws_objects = [reconciler.aws] + ([lease.aws] if lease else [])
        for aws in {id(a): a for a in aws_objects}.values():
            aws.on_call(self.gate.check)  # first: a call the gate stops is not counted
            aws.on_call(self.metrics.aws_call)
            aws.on_error(self.metrics.aws_error)
            aws.on_throttle(self.metrics.throttled)
        self.metrics.interval.set(interval)

    @property
    def longest_gap(self) -> float:
        """The most seconds between two ticks: the interval, or the back-off cap when longer."""
        return max(self.interval, self._backoffs.cap) + self.jitter

    # -- what the server asks ----------------------------------------------------------------

    def ready(self) -> bool:
        """Whether a pass completed for the revision the daemon reconciles."""
        return self._report.ready()

    def report(self) -> dict[str, Any]:
        """The ``/status`` document."""
        return self._report.document()

    def statuses(self) -> dict[str, ServiceStatus]:
        return self._report.statuses()

    # -- one tick ----------------------------------------------------------------------------

    def tick(self) -> TickResult:
        """One pass: fetch, load, compute, apply (when leading), record status."""
        with self._tick_lock, self.gate.guard():
            now = self._clock()
            leading = self._lead()
            followed = self._revisions.follow(now)
            outcomes, applied = self._reconcile(followed.specs, leading=leading, now=now)
            self._scan_orphans(followed, now=now)
            view = self._report.finish_tick(
                outcomes, followed=followed, leading=leading, owned=self._mine
            )
            self.listeners.tell(view)
            ok = followed.ok and all(o.error is None for o in outcomes)
            next_delay = self._backoffs.next_delay(now=self._clock(), interval=self.interval)
            return TickResult(ok=ok, next_delay=next_delay, applied=applied)

    def _lead(self) -> bool:
        if self.lease is None:
            return True
        leading = self.lease.ensure()
        self._report.leading(leading)
        return leading

    def _reconcile(
        self, specs: Sequence[ServiceSpec], *, leading: bool, now: float
    ) -> tuple[list[ServiceOutcome], int]:
        due = [s for s in specs if self._backoffs.service(s.name).due(now) and self._mine(s.name)]
        if not due:
            return [], 0
        started = self._clock()
        self.reconciler.writer = self._writer(due[0].source.revision)
        outcomes = self.reconciler.compute(due)
        shared = self._clock() - started  # observe is batched: its time is every service's
        self._queue(outcomes)
        applied = 0
        for outcome in outcomes:
            began = self._clock()
            writing = leading and self._may_write(outcome.name)
            if writing and outcome.queued is None:
                applied += self._apply(outcome)
            seconds = shared + self._clock() - began
            backoff = self._backoffs.service(outcome.name)
            retry_in = backoff.after(outcome.error, now=self._clock())
            self._report.record(outcome, seconds=seconds, writing=writing, retry_in=retry_in)
        return outcomes, applied

    def _queue(self, outcomes: Sequence[ServiceOutcome]) -> None:
        """Hold the plans of the services whose rollout must wait for a slot."""
        if self.rollout_limits.unlimited:
            return
        candidates = [waves.candidate(o) for o in outcomes]
        admission = waves.admit(candidates, self.rollout_limits)
        for outcome in outcomes:
            outcome.queued = admission.queued.get(outcome.name)
        self.metrics.rollouts_queued.set(len(admission.queued))

    def _scan_orphans(self, followed: Followed, *, now: float) -> None:
        """Every ``ORPHAN_SCAN_SECONDS``: groups claimed for a service no longer in git."""
        last = self._orphans_scanned
        if followed.good is None or (last is not None and now - last < ORPHAN_SCAN_SECONDS):
            return
        self._orphans_scanned = now
        regions = sorted({s.region for s in followed.specs}) or [self.reconciler.aws.region]
        found: list[orphans.Claim] = []
        try:
            for region in regions:
                claimed = orphans.claims(self.reconciler.aws, region, owner=self.reconciler.owner)
                found += orphans.orphans(claimed, known=[s.name for s in followed.specs])
        except errors.ReconcilerError as exc:
            log.warning("orphan_scan_failed", error=str(exc))
            return
        self._report.orphans(found)

    def _writer(self, revision: str | None) -> Writer:
        """This daemon as a writer at ``revision``, for the check before each write."""
        lineage = self.source.lineage()
        return Writer(
            owner=self.reconciler.owner,
            kind=DAEMON,
            revision=revision,
            committed=lineage.committed(revision),
            descends=lineage.descends_from(revision),
            abandoned=self._revisions.abandoned,
        )

    def _mine(self, service: str) -> bool:
        """Sharded (``--shard``): only the services of the shards this daemon holds."""
        return not isinstance(self.lease, ShardLeases) or self.lease.owns(service)

    def _may_write(self, service: str) -> bool:
        if isinstance(self.lease, ShardLeases):
            return self.lease.owns(service)
        return self.lease is None or self.lease.held()

    def _apply(self, outcome: ServiceOutcome) -> int:
        """Apply one service's plan; the number of actions done."""
        # apply logs each action; the binding puts the commit on those lines too.
        with structlog.contextvars.bound_contextvars(revision=outcome.spec.source.revision):
            self.reconciler.apply([outcome])
        return len(outcome.applied.done) if outcome.applied else 0

    # -- what an operator asks ---------------------------------------------------------------

    def retry(self, name: str) -> str:
        """``reconciler retry`` for one service, done by this daemon (the status page's retry):
        the failure of its desired revision is forgotten, so the next tick rolls it out again.
        Between ticks (the tick lock) and only while leading, so it never races a pass or a
        leader elsewhere. What was done, in words; OperatorError when there is nothing to do."""
        with self._tick_lock, self.gate.guard():
            if not self._lead():
                raise errors.OperatorError("this daemon is on standby: retry on the leader")
            specs = [s for s in self._revisions.current().specs if s.name == name]
            if not specs:
                raise errors.OperatorError(f"no service {name!r} in the last good revision")
            outcome = self.reconciler.compute(specs)[0]
            planned = retry(outcome)
            if outcome.error is not None or planned is None:
                why = outcome.error or "no failed revision recorded"
                raise errors.OperatorError(f"{name}: nothing to retry ({why})")
            apply(self.reconciler.aws_for(specs[0]), planned, region=specs[0].region)
        log.info("retried", service=name, revision=specs[0].source.revision)
        self.trigger()
        return f"{name}: failure forgotten; the next tick rolls it out again"

    # -- scheduling --------------------------------------------------------------------------

    def start(self) -> None:
        """Tick now and every ``interval`` (plus jitter) on a background scheduler."""
        ticker = Ticker(self._scheduled_tick, interval=self.interval, jitter=self.jitter)
        if self.lease is not None:
            ticker.every(self.lease.renew_every, self._renew, name=LEASE_JOB)
        self._ticker = ticker
        ticker.start()

    def trigger(self) -> None:
        """Tick as soon as possible (the webhook): now, or right after the tick in flight."""
        ticker = self._ticker
        if ticker is not None and not self.gate.closed:
            ticker.poke()

    def stop(self, *, release: bool = True) -> None:
        """Finish the AWS call in flight, start no other, stop ticking, hand the lease over.

        ``release=False`` leaves the lease to expire, as a crash would.
        """
        self.gate.close()
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.stop()  # waits for the tick in flight
        if release and self.lease is not None:
            self.lease.release()
        log.info("stopped", released=release and self.lease is not None)

    def _scheduled_tick(self) -> float | None:
        """A tick on the scheduler: the seconds until the next, None once stopping."""
        if self.gate.closed:
            return None
        try:
            delay = self.tick().next_delay
        except Exception as exc:  # a bug must not kill the loop: log it and back off
            log.exception("tick_crashed", error=f"{type(exc).__name__}: {exc}")
            delay = self._backoffs.fetch.fail(now=self._clock())
        return None if self.gate.closed else delay

    def _renew(self) -> None:
        if self.lease is None or self.gate.closed:
            return
        self._report.leading(self.lease.ensure())
