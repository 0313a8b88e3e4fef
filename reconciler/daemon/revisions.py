"""Following the source's revisions: fetch, verify, load, and keep the last good one.

- **Last good wins.** A commit that fails validation (or its signature check) is refused: its
  specs are never used, the last good revision's stay in force, and the refusal (with each
  problem's file:line:field) is kept for ``/status`` and the log.
- A failed fetch (or a failed read of the commit) backs off like any temporary error.
- **Images must resolve.** A commit naming an image its registry does not hold (``admit``) is
  refused the same way, reason ``UnresolvableImage``. A registry that cannot be reached says
  nothing about the commit: it is taken in, and that service backs off on its own.
- A refused commit is read once: reading it again cannot change the verdict. An unresolvable
  image is the exception, looked up again at each fetch, since the image may be pushed after
  its tag was committed. Moving back to the last good one (a force-push) clears the refusal.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from reconciler import desired, errors
from reconciler.daemon.backoff import Backoffs
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.source import Fetched, Source
from reconciler.model import Problem, ServiceSpec

log = structlog.get_logger("reconciler.daemon.revisions")

# What a loaded revision's specs must pass to be taken in (the images resolve); raises
# InvalidDesiredState to refuse it.
Admit = Callable[[Sequence[ServiceSpec]], None]
RECHECKED = frozenset({errors.UnresolvableImage.__name__})


@dataclass(frozen=True)
class DesiredError:
    """Why the newest revision was refused."""

    revision: str
    problems: tuple[Problem, ...]
    reason: str  # "InvalidDesiredState" or "UnverifiedCommit"; errors before warnings

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
class LastGood:
    revision: str
    specs: tuple[ServiceSpec, ...]


@dataclass(frozen=True)
class Followed:
    """Where following the source stands; replaced whole, so a reader never sees half."""

    revision: str | None = None  # the newest fetched
    good: LastGood | None = None
    desired_error: DesiredError | None = None
    source_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.source_error is None and self.desired_error is None

    @property
    def specs(self) -> tuple[ServiceSpec, ...]:
        """What to reconcile: the last good revision's specs."""
        return self.good.specs if self.good else ()


class Revisions:
    """The source followed: ``follow()`` once a tick, ``current()`` from any thread."""

    def __init__(
        self,
        *,
        source: Source,
        metrics: Metrics,
        backoffs: Backoffs,
        clock: Callable[[], float],
        admit: Admit | None = None,
    ) -> None:
        self.source = source
        self._admit = admit
        self._metrics = metrics
        self._backoffs = backoffs
        self._clock = clock
        self._state = Followed()
        self._lock = threading.Lock()
        # Revisions this daemon saw rewritten away (a force-push back): a writer tag naming one
        # is not a newer revision to give way to (``pipeline.writers``).
        self.abandoned: frozenset[str] = frozenset()

    def current(self) -> Followed:
        with self._lock:
            return self._state

    def follow(self, now: float) -> Followed:
        """Fetch when the fetch is due, take the newest revision in, and say where it stands."""
        if self._backoffs.fetch.due(now):
            self._refresh(now)
        return self.current()

    def _update(self, change: Callable[[Followed], Followed]) -> Followed:
        with self._lock:
            self._state = change(self._state)
            return self._state

    def _refresh(self, now: float) -> None:
        fetched = self._fetch(now)
        if fetched is None:
            return
        state = self._update(lambda s: dataclasses.replace(s, revision=fetched.revision))
        good, bad = state.good, state.desired_error
        if good is not None and fetched.revision == good.revision:
            if bad is not None:  # moved back (force-push) from a refused commit to the good one
                self._accept(good.revision, good.specs)
            return
        if bad is not None and fetched.revision == bad.revision and bad.reason not in RECHECKED:
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
            self._metrics.fetched(seconds=self._clock() - started, ok=False)
            self._source_failed(exc, now=now)
            return None
        self._metrics.fetched(seconds=self._clock() - started, ok=True)
        self._backoffs.fetch.succeed()
        self._update(lambda s: dataclasses.replace(s, source_error=None))
        if fetched.rewritten:
            if fetched.previous:
                self.abandoned = self.abandoned | {fetched.previous[:12]}
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
        self._update(lambda s: dataclasses.replace(s, source_error=str(exc)))
        log.warning("fetch_failed", source=self.source.description, error=str(exc), retry_in=delay)

    def _load(self, revision: str) -> tuple[ServiceSpec, ...]:
        self.source.verify(revision)
        with self.source.checkout(revision) as checkout:
            try:
                loaded = desired.load(list(checkout.paths), revision=revision)
            except errors.InvalidDesiredState as exc:
                raise errors.InvalidDesiredState(checkout.relocate(exc.problems)) from None
            if self._admit is not None:
                try:
                    self._admit(loaded.services)
                except errors.UnresolvableImage as exc:
                    raise errors.UnresolvableImage(checkout.relocate(exc.problems)) from None
        for warning in checkout.relocate(loaded.warnings):
            log.warning("desired_warning", revision=revision, problem=str(warning))
        return loaded.services

    def _refuse(self, revision: str, exc: errors.InvalidDesiredState) -> None:
        reason = type(exc).__name__
        # The errors first: an operator (and /status's problems[0]) reads why it was refused.
        problems = tuple(sorted(exc.problems, key=lambda p: p.warning))
        error = DesiredError(revision=revision, problems=problems, reason=reason)
        if self.current().desired_error == error:
            return  # looked up again (an image), and refused again: told already
        state = self._update(lambda s: dataclasses.replace(s, desired_error=error))
        last_good = state.good.revision if state.good else None
        self._metrics.desired_revision(revision=revision, last_good=last_good, valid=False)
        log.error(
            "desired_refused",
            revision=revision,
            last_good_revision=last_good,
            reason=reason,
            error=error.message,
            problems=[str(p) for p in exc.problems],
        )

    def _accept(self, revision: str, specs: tuple[ServiceSpec, ...]) -> None:
        good = LastGood(revision=revision, specs=specs)
        self._update(lambda s: dataclasses.replace(s, good=good, desired_error=None))
        # A new commit is a new desired state: every service gets a fresh start.
        self._backoffs.fresh_start()
        self._metrics.desired_revision(revision=revision, last_good=revision, valid=True)
        log.info("desired_loaded", revision=revision, services=[s.name for s in specs], result="ok")
