"""The daemon: the GitOps loop, driven by apscheduler, one tick at a time.

A tick::

    lease (when configured) → fetch → verify → load (at the commit) → compute → apply → status

- **Last good wins.** A commit that fails validation (or its signature check) is refused: the
  daemon keeps reconciling the last good revision's specs, applies nothing from the bad commit,
  and reports the error (file:line:field) in ``/status``, in the logs and as Stalled conditions.
- **Backoff.** A temporary error (a failed fetch, or one service's ``TemporaryError``) backs off
  exponentially, 5 s doubling to 5 min; the next tick comes as soon as anything is due again. A
  permanent error parks the service (Stalled) until the next commit, rechecking at the cap in
  case someone fixed AWS by hand.
- **One writer.** With a lease, only the holder applies; the others compute and report
  ``standby``.
- **Clean stop.** On SIGTERM/SIGINT the call in flight finishes and no new AWS call starts
  (``CallGate``): every write the reconciler makes is idempotent, so the next start finishes
  whatever the stop interrupted.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from reconciler import desired, errors
from reconciler.aws import Aws
from reconciler.daemon.backoff import Backoffs
from reconciler.daemon.gate import CallGate, Interrupted
from reconciler.daemon.lease import Lease
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.source import (
    Fetched,
    GitSettings,
    GitSource,
    LocalSource,
    Source,
    default_cache_dir,
    is_git_repository,
)
from reconciler.images.resolver import ImageResolver
from reconciler.model import DEFAULT_OWNER, Problem, ServiceSpec
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome
from reconciler.pipeline.status import Condition, ServiceStatus, service_status

log = structlog.get_logger("reconciler.daemon.loop")

TICK_JOB = "tick"
LEASE_JOB = "lease"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``30s``, ``5m``, ``1h`` or plain seconds (``45``, ``0.5``) → seconds."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise errors.UsageError(f"invalid duration {text!r}: use e.g. 30s, 5m, 1h or seconds")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


# ------------------------------------------------------------------------------------------------
# State the server reports
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DesiredError:
    revision: str
    problems: tuple[Problem, ...]
    reason: str  # "InvalidDesiredState" or "UnverifiedCommit"

    @property
    def message(self) -> str:
        found = [p for p in self.problems if not p.warning]
        first = str(found[0]) if found else "invalid desired state"
        return first + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "reason": self.reason,
            "message": self.message,
            "problems": [dataclasses.asdict(p) for p in self.problems],
        }


@dataclass(frozen=True)
class TickResult:
    ok: bool  # no fetch, desired or service error
    next_delay: float  # seconds until something is due again
    applied: int = 0  # actions applied in this tick


@dataclass
class _Good:
    revision: str
    specs: tuple[ServiceSpec, ...]


@dataclass
class _State:
    revision: str | None = None  # the newest fetched
    good: _Good | None = None
    desired_error: DesiredError | None = None
    source_error: str | None = None
    reconciled: str | None = None  # the good revision a pass last completed for
    role: str = "leader"
    statuses: dict[str, ServiceStatus] = field(default_factory=dict)
    last_tick: str | None = None


# ------------------------------------------------------------------------------------------------
# The daemon
# ------------------------------------------------------------------------------------------------


class Daemon:
    """Ticks: fetch, load, compute, apply. ``tick()`` runs one; ``start()`` schedules them."""

    def __init__(
        self,
        *,
        source: Source,
        reconciler: Reconciler,
        metrics: Metrics | None = None,
        lease: Lease | None = None,
        interval: float = 30.0,
        jitter: float | None = None,
        backoff_base: float = 5.0,
        backoff_cap: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.reconciler = reconciler
        self.metrics = metrics or Metrics()
        self.lease = lease
        self.interval = interval
        # Several daemons started together (a deploy) should not tick in lockstep.
        self.jitter = min(interval / 10, 5.0) if jitter is None else jitter
        self.gate = CallGate()
        self._backoffs = Backoffs(base=backoff_base, cap=backoff_cap)
        self._clock = clock
        self._state = _State(role="standby" if lease else "leader")
        self._state_lock = threading.Lock()
        self._tick_lock = threading.Lock()
        self._triggers = 0
        self._ticking = False
        self._scheduler: Any = None
        for aws in {id(a): a for a in self._aws_objects()}.values():
            aws.on_call(self.gate.check)  # first: a call the gate stops is not counted
            aws.on_call(self.metrics.aws_call)

    def _aws_objects(self) -> list[Aws]:
        found = [self.reconciler.aws]
        if self.lease is not None:
            found.append(self.lease.aws)
        return found

    # -- what the server asks ----------------------------------------------------------------

    def ready(self) -> bool:
        """Whether a pass completed for the revision the daemon reconciles."""
        with self._state_lock:
            good = self._state.good
            return good is not None and self._state.reconciled == good.revision

    def report(self) -> dict[str, Any]:
        """The ``/status`` document."""
        with self._state_lock:
            state = self._state
            return {
                "revision": state.revision,
                "lastGoodRevision": state.good.revision if state.good else None,
                "desiredError": state.desired_error.to_dict() if state.desired_error else None,
                "sourceError": state.source_error,
                "source": self.source.description,
                "role": state.role,
                "leader": self.lease.leader if self.lease else None,
                "ready": state.good is not None and state.reconciled == state.good.revision,
                "lastTick": state.last_tick,
                "services": [s.to_dict() for _, s in sorted(state.statuses.items())],
            }

    def statuses(self) -> dict[str, ServiceStatus]:
        with self._state_lock:
            return dict(self._state.statuses)

    # -- one tick ----------------------------------------------------------------------------

    def tick(self) -> TickResult:
        """One pass: fetch, load, compute, apply (when leading), record status."""
        with self._tick_lock, self.gate.guard():
            now = self._clock()
            leading = self._lead()
            specs, desired_ok = self._desired_specs(now)
            outcomes, applied = self._reconcile(specs, leading=leading, now=now)
            self._finish_tick(outcomes, specs=specs)
            ok = desired_ok and all(o.error is None for o in outcomes)
            return TickResult(
                ok=ok,
                next_delay=self._backoffs.next_delay(now=self._clock(), interval=self.interval),
                applied=applied,
            )

    def _lead(self) -> bool:
        if self.lease is None:
            return True
        leading = self.lease.ensure()
        self.metrics.leading(leading)
        with self._state_lock:
            self._state.role = "leader" if leading else "standby"
        return leading

    # -- desired state -----------------------------------------------------------------------

    def _desired_specs(self, now: float) -> tuple[tuple[ServiceSpec, ...], bool]:
        """The specs to reconcile (the last good ones when the newest commit is refused)."""
        if self._backoffs.fetch.due(now):
            self._refresh_desired(now)
        with self._state_lock:
            state = self._state
            ok = state.source_error is None and state.desired_error is None
            return (state.good.specs if state.good else ()), ok

    def _refresh_desired(self, now: float) -> None:
        fetched = self._fetch(now)
        if fetched is None:
            return
        with self._state_lock:
            self._state.revision = fetched.revision
            good = self._state.good
            bad = self._state.desired_error
        if good is not None and fetched.revision == good.revision:
            if bad is not None:  # moved back (force-push) from a refused commit to the good one
                self._accept(good.revision, good.specs)
            return
        if bad is not None and fetched.revision == bad.revision:
            return  # refused already: reading it again cannot change the verdict
        try:
            specs = self._load(fetched.revision)
        except errors.InvalidDesiredState as exc:
            self._refuse(fetched.revision, exc)
            return
        except errors.TemporaryError as exc:  # reading the commit failed: like a failed fetch
            self._source_failed(exc, now=now)
            return
        self._accept(fetched.revision, specs)

    def _fetch(self, now: float) -> Fetched | None:
        started = self._clock()
        try:
            fetched = self.source.fetch()
        except errors.ReconcilerError as exc:
            self.metrics.fetched(seconds=self._clock() - started, ok=False)
            self._source_failed(exc, now=now)
            return None
        self.metrics.fetched(seconds=self._clock() - started, ok=True)
        self._backoffs.fetch.succeed()
        with self._state_lock:
            self._state.source_error = None
        if fetched.rewritten:
            log.warning(
                "history_rewritten",
                old=fetched.previous,
                new=fetched.revision,
                source=self.source.description,
            )
        return fetched

    def _source_failed(self, exc: errors.ReconcilerError, *, now: float) -> None:
        at_least = exc.delay if isinstance(exc, errors.TemporaryError) else 0.0
        delay = self._backoffs.fetch.fail(now=now, at_least=at_least)
        with self._state_lock:
            self._state.source_error = str(exc)
        log.warning("fetch_failed", source=self.source.description, error=str(exc), retry_in=delay)

    def _load(self, revision: str) -> tuple[ServiceSpec, ...]:
        self.source.verify(revision)
        with self.source.checkout(revision) as checkout:
            try:
                loaded = desired.load(list(checkout.paths), revision=revision)
            except errors.InvalidDesiredState as exc:
                raise errors.InvalidDesiredState(checkout.relocate(exc.problems)) from None
        for warning in checkout.relocate(loaded.warnings):
            log.warning("desired_warning", revision=revision, problem=str(warning))
        return loaded.services

    def _refuse(self, revision: str, exc: errors.InvalidDesiredState) -> None:
        reason = type(exc).__name__
        error = DesiredError(revision=revision, problems=exc.problems, reason=reason)
        with self._state_lock:
            self._state.desired_error = error
            last_good = self._state.good.revision if self._state.good else None
        self.metrics.desired_revision(revision=revision, last_good=last_good, valid=False)
        log.error(
            "desired_refused",
            revision=revision,
            last_good_revision=last_good,
            reason=reason,
            error=error.message,
            problems=[str(p) for p in exc.problems],
        )

    def _accept(self, revision: str, specs: tuple[ServiceSpec, ...]) -> None:
        with self._state_lock:
            self._state.good = _Good(revision=revision, specs=specs)
            self._state.desired_error = None
        # A new commit is a new desired state: every service gets a fresh start.
        self._backoffs.fresh_start()
        self.metrics.desired_revision(revision=revision, last_good=revision, valid=True)
        log.info("desired_loaded", revision=revision, services=[s.name for s in specs], result="ok")

    # -- reconcile ---------------------------------------------------------------------------

    def _reconcile(
        self, specs: Sequence[ServiceSpec], *, leading: bool, now: float
    ) -> tuple[list[ServiceOutcome], int]:
        due = [s for s in specs if self._backoffs.service(s.name).due(now)]
        if not due:
            return [], 0
        started = self._clock()
        outcomes = self.reconciler.compute(due)
        shared = self._clock() - started  # observe is batched: its time is every service's
        applied = 0
        for outcome in outcomes:
            began = self._clock()
            writing = leading and (self.lease is None or self.lease.held())
            if writing:
                # apply logs each action; the binding puts the commit on those lines too.
                with structlog.contextvars.bound_contextvars(revision=outcome.spec.source.revision):
                    self.reconciler.apply([outcome])
                applied += len(outcome.applied.done) if outcome.applied else 0
            self._record(outcome, seconds=shared + self._clock() - began, writing=writing)
        return outcomes, applied

    def _record(self, outcome: ServiceOutcome, *, seconds: float, writing: bool) -> None:
        result = _result(outcome, writing=writing)
        backoff = self._backoffs.service(outcome.name)
        retry_in = backoff.after(outcome.error, now=self._clock())
        diff = outcome.diff
        status = service_status(outcome)
        self.metrics.reconciled(
            service=outcome.name,
            result=result,
            seconds=seconds,
            changes=len(diff.changes) if diff else 0,
            phase=diff.phase.value if diff else "Error",
            percentage=_percentage(outcome),
        )
        applied = status.applied
        self.metrics.applied_revision(
            service=outcome.name,
            revision=applied.revision if applied else None,
            version=applied.launch_template_version if applied else None,
            image=applied.image if applied else None,
        )
        with self._state_lock:
            self._state.statuses[outcome.name] = status
        _log_outcome(outcome, result=result, retry_in=retry_in)

    def _finish_tick(
        self, outcomes: Sequence[ServiceOutcome], *, specs: Sequence[ServiceSpec]
    ) -> None:
        names = {s.name for s in specs}
        with self._state_lock:
            state = self._state
            for gone in set(state.statuses) - names:
                del state.statuses[gone]
                self.metrics.forget(gone)
            if state.desired_error is not None:
                state.statuses = {
                    name: _stalled_by(status, state.desired_error)
                    for name, status in state.statuses.items()
                }
            completed = outcomes and not any(isinstance(o.error, Interrupted) for o in outcomes)
            if state.good is not None and completed:
                state.reconciled = state.good.revision
            state.last_tick = datetime.now(UTC).isoformat(timespec="seconds")

    # -- scheduling --------------------------------------------------------------------------

    def start(self) -> None:
        """Tick now and every ``interval`` (plus jitter) on a background scheduler."""
        scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        scheduler.add_job(
            self._scheduled_tick,
            IntervalTrigger(seconds=self.interval, jitter=self.jitter or None, timezone=UTC),
            id=TICK_JOB,
            next_run_time=datetime.now(UTC),
        )
        if self.lease is not None:
            scheduler.add_job(
                self._renew, IntervalTrigger(seconds=self.lease.renew_every), id=LEASE_JOB
            )
        self._scheduler = scheduler
        scheduler.start()

    def trigger(self) -> None:
        """Tick as soon as possible (the webhook): now, or right after the tick in flight."""
        with self._state_lock:
            self._triggers += 1
            busy = self._ticking
        if not busy and not self.gate.closed:
            self._run_at(datetime.now(UTC))

    def stop(self, *, release: bool = True) -> None:
        """Finish the AWS call in flight, start no other, stop ticking, hand the lease over.

        ``release=False`` leaves the lease to expire, as a crash would.
        """
        self.gate.close()
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)  # waits for the tick in flight
        if release and self.lease is not None:
            self.lease.release()
        log.info("stopped", released=release and self.lease is not None)

    def _scheduled_tick(self) -> None:
        with self._state_lock:
            self._ticking = True
            seen = self._triggers
        try:
            delay = self.tick().next_delay
        except Exception as exc:  # a bug must not kill the loop: log it and back off
            log.exception("tick_crashed", error=f"{type(exc).__name__}: {exc}")
            delay = self._backoffs.fetch.fail(now=self._clock())
        finally:
            with self._state_lock:
                self._ticking = False
                triggered = self._triggers != seen
        if self.gate.closed:
            return
        if triggered:
            delay = 0.0
        if delay < self.interval:
            self._run_at(datetime.now(UTC) + timedelta(seconds=delay))

    def _run_at(self, when: datetime) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        try:
            scheduler.modify_job(TICK_JOB, next_run_time=when)
        except Exception as exc:  # the scheduler shut down meanwhile
            log.debug("reschedule_skipped", error=str(exc))

    def _renew(self) -> None:
        if self.lease is None or self.gate.closed:
            return
        leading = self.lease.ensure()
        self.metrics.leading(leading)
        with self._state_lock:
            self._state.role = "leader" if leading else "standby"


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


def _percentage(outcome: ServiceOutcome) -> int | None:
    diff = outcome.diff
    if diff is None:
        return None
    if diff.refresh is not None and diff.refresh.status.active:
        return diff.refresh.percentage_complete
    return 100 if diff.in_sync else None


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


# ------------------------------------------------------------------------------------------------
# ``reconciler run``
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    repo: str  # a git URL or path, or a plain directory
    branch: str = "main"
    path: str = "desired"
    interval: float = 30.0
    listen: tuple[str, int] | None = ("127.0.0.1", 9090)
    cache_dir: Path | None = None
    lease_table: str | None = None
    lease_duration: float = 30.0
    lease_renew: float = 10.0
    allowed_signers: Path | None = None  # set: --verify-commits
    webhook_secret: bytes | None = None
    once: bool = False
    owner: str = DEFAULT_OWNER
    region: str = "us-east-1"
    endpoint_url: str | None = None


def webhook_secret(*, file: str | None, env: Mapping[str, str]) -> bytes | None:
    """The webhook's shared secret from ``file`` or ``RECONCILER_WEBHOOK_SECRET``; None: off."""
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise errors.UsageError(f"--webhook-secret-file: {exc.strerror}: {file}") from None
    else:
        text = env.get("RECONCILER_WEBHOOK_SECRET", "").strip()
    return text.encode() if text else None


def build_source(config: RunConfig) -> Source:
    """A git source for anything git can fetch; a plain directory is read as it is."""
    signers = config.allowed_signers
    if signers is not None and not signers.is_file():
        raise errors.UsageError(f"--allowed-signers: no such file: {signers}")
    local = Path(config.repo)
    if local.is_dir() and not is_git_repository(local):
        if config.allowed_signers is not None:
            raise errors.UsageError("--verify-commits needs a git repository, not a directory")
        return LocalSource(paths=[local / config.path])
    settings = GitSettings(
        repo=str(local.resolve()) if local.exists() else config.repo,
        branch=config.branch,
        path=config.path,
        cache_dir=config.cache_dir or default_cache_dir(),
        allowed_signers=config.allowed_signers,
    )
    return GitSource(settings)


def build_daemon(config: RunConfig, *, metrics: Metrics | None = None) -> Daemon:
    metrics = metrics or Metrics()
    aws = Aws(region=config.region, endpoint_url=config.endpoint_url)
    lease = None
    if config.lease_table:
        lease = Lease(
            aws=aws,
            table=config.lease_table,
            name=config.owner,
            duration=config.lease_duration,
            renew_every=config.lease_renew,
        )
    return Daemon(
        source=build_source(config),
        reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws), owner=config.owner),
        metrics=metrics,
        lease=lease,
        interval=config.interval,
    )


def run(config: RunConfig) -> int:
    """``reconciler run``: until SIGTERM/SIGINT (exit 0), or one tick with ``once``."""
    daemon = build_daemon(config)
    # apscheduler warns through stdlib logging when a trigger meets the tick in flight; the
    # trigger is still served (see Daemon.trigger), so only its errors are worth a line.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    stop = threading.Event()

    def shut_down() -> None:
        daemon.gate.close()  # the tick in flight stops before its next AWS call
        stop.set()

    previous = _on_signals(shut_down)
    log.info("starting", source=daemon.source.description, interval=config.interval)
    try:
        if config.once:
            return _run_once(daemon)
        return _run_forever(daemon, config, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_once(daemon: Daemon) -> int:
    """One tick; exit 1 when it met an error, so cron and CI notice. A signal still exits 0."""
    try:
        result = daemon.tick()
    finally:
        if daemon.lease is not None:
            daemon.lease.release()
    return 0 if result.ok or daemon.gate.closed else 1


def _run_forever(daemon: Daemon, config: RunConfig, stop: threading.Event) -> int:
    from reconciler.daemon.server import StatusServer

    server = None
    if config.listen is not None:
        host, port = config.listen
        server = StatusServer(
            daemon=daemon,
            metrics=daemon.metrics,
            host=host,
            port=port,
            webhook_secret=config.webhook_secret,
            branch=config.branch,
        ).start()
        log.info("listening", address=f"http://{server.host}:{server.port}")
    daemon.start()
    try:
        stop.wait()
    finally:
        log.info("stopping")
        daemon.stop()
        if server is not None:
            server.stop()
    return 0


def _on_signals(handler: Callable[[], object]) -> Mapping[int, Any]:
    def handle(signum: int, frame: FrameType | None) -> None:
        handler()

    return {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
