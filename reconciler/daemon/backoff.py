"""When each thing that failed may be tried again: the fetch, and every service on its own.

A temporary error backs off exponentially, 5 s doubling to 5 min (or from the error's own
delay, e.g. a throttle's); a permanent one parks at the cap, so a fix made by hand in AWS is
still noticed. A new desired state gives every service a fresh start.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler import errors


@dataclass
class Backoff:
    """Exponential backoff for one thing that can fail (the fetch, or one service)."""

    base: float = 5.0
    cap: float = 300.0
    failures: int = 0
    not_before: float = 0.0  # monotonic

    def fail(self, *, now: float, at_least: float = 0.0) -> float:
        """Record a failure; ``at_least`` is the error's own delay, e.g. a throttle's."""
        delay = min(self.cap, max(self.base, at_least) * float(2**self.failures))
        self.failures += 1
        self.not_before = now + delay
        return delay

    def park(self, *, now: float) -> float:
        """A permanent failure: wait the longest."""
        self.failures += 1
        self.not_before = now + self.cap
        return self.cap

    def succeed(self) -> None:
        self.failures = 0
        self.not_before = 0.0

    def due(self, now: float) -> bool:
        return now >= self.not_before

    def after(self, error: Exception | None, *, now: float) -> float | None:
        """Record how a try ended; the seconds until the next one, None when not delayed."""
        if error is None:
            self.succeed()
            return None
        if isinstance(error, errors.Interrupted):
            return None  # stopping, not failing
        if isinstance(error, errors.TemporaryError):
            return self.fail(now=now, at_least=error.delay)
        return self.park(now=now)


class Backoffs:
    """The fetch's backoff and one per service, all with the same base and cap."""

    def __init__(self, *, base: float = 5.0, cap: float = 300.0) -> None:
        self._base = base
        self._cap = cap
        self.fetch = Backoff(base=base, cap=cap)
        self._services: dict[str, Backoff] = {}

    @property
    def cap(self) -> float:
        return self._cap

    def service(self, name: str) -> Backoff:
        return self._services.setdefault(name, Backoff(base=self._base, cap=self._cap))

    def fresh_start(self) -> None:
        """A new desired state: every service may be tried at once."""
        self._services.clear()

    def next_delay(self, *, now: float, interval: float) -> float:
        """Seconds until something is due again, at most ``interval``."""
        backoffs = [self.fetch, *self._services.values()]
        pending = [b.not_before for b in backoffs if b.not_before > now]
        soonest = min(pending, default=now + interval) - now
        return max(0.0, min(interval, soonest))
