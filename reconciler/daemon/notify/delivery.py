"""Delivery to one sink, on a thread of its own: a bounded queue, retries, a bounded stop.

- **Never blocks the tick.** ``offer`` appends to a bounded deque under a lock held for that
  append only; the HTTP requests happen on the sink's thread.
- **Bounded memory.** A full queue drops its oldest event (counted, and logged): a receiver
  that is down for hours costs ``capacity`` events, and the newest news survives.
- **Retries.** 5xx, timeouts and connection errors are retried with exponential backoff and
  jitter; a 429 waits what its ``Retry-After`` asks (capped). Other 4xx are the receiver
  refusing the request: retrying cannot help. An event is given up ``give_up_after`` seconds
  after its first attempt. Events go out in order; one being retried holds the ones after it.
- **Clean stop.** ``stop`` lets the queue drain until its deadline, then drops what is left.
"""

from __future__ import annotations

import collections
import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
import structlog

from reconciler.daemon.notify.metrics import NotifyMetrics
from reconciler.daemon.notify.sinks import Sink, Stamped

log = structlog.get_logger("reconciler.daemon.notify")

DELIVERED = "delivered"
REJECTED = "rejected"  # a 4xx other than 429
GAVE_UP = "gave_up"
RESULTS = (DELIVERED, REJECTED, GAVE_UP)
QUEUE_FULL = "queue_full"
SHUTDOWN = "shutdown"
DROP_REASONS = (QUEUE_FULL, SHUTDOWN)


@dataclass(frozen=True)
class Policy:
    capacity: int = 100  # events queued per sink
    timeout: float = 10.0  # seconds for one request (connect, then each read)
    base: float = 1.0  # the first retry's delay, doubled each time
    cap: float = 60.0  # the longest delay between two attempts
    retry_after_cap: float = 300.0  # the longest a Retry-After is honoured
    give_up_after: float = 600.0  # seconds after an event's first attempt


@dataclass(frozen=True)
class Attempt:
    """One request's result: a status, or the error that stood for it (timeout, refused)."""

    status: int | None
    retry_after: str | None = None
    error: str = ""


def backoff(attempt: int, policy: Policy, rand: Callable[[], float] = random.random) -> float:
    """The delay before retry ``attempt`` (0-based): half the doubled delay, plus jitter up to
    the other half, so many daemons do not retry in step."""
    delay: float = min(policy.cap, policy.base * 2.0**attempt)
    return delay / 2 + rand() * delay / 2


def retry_after(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` in seconds (RFC 9110: delay-seconds or an HTTP-date); None unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def verdict(attempt: Attempt) -> str | None:
    """DELIVERED or REJECTED when the attempt settles it; None: try again."""
    status = attempt.status
    if status is None or status == 429 or status >= 500:
        return None
    return DELIVERED if 200 <= status < 300 else REJECTED


class Outbox:
    """One sink's queue and thread."""

    def __init__(
        self,
        sink: Sink,
        *,
        metrics: NotifyMetrics,
        policy: Policy | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.sink = sink
        self.policy = policy or Policy()
        self._metrics = metrics
        self._wall = wall
        self._queue: collections.deque[Stamped] = collections.deque()
        self._wake = threading.Condition()
        self._stopping = threading.Event()  # set by stop(): drain, then end
        self._deadline = float("inf")  # monotonic: when a stop stops waiting for the queue
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name=f"notify-{sink.name}", daemon=True)

    def start(self) -> Outbox:
        self._thread.start()
        return self

    def offer(self, stamped: Stamped) -> None:
        """Queue an event; drops the oldest when full. Never blocks on the network."""
        with self._wake:
            if len(self._queue) >= self.policy.capacity:
                self._drop(self._queue.popleft(), QUEUE_FULL)
            self._queue.append(stamped)
            self._metrics.queued(self.sink.name, len(self._queue))
            self._wake.notify()

    def stop(self, *, flush: float) -> None:
        """Deliver what is queued for up to ``flush`` seconds, then drop the rest."""
        with self._wake:
            self._deadline = time.monotonic() + flush
            self._stopping.set()
            self._wake.notify()
        # A request in flight past the deadline is left to its daemon thread: the process is
        # stopping, and a hanging receiver must not hold the stop for a whole timeout.
        self._thread.join(timeout=flush + 0.5)
        if not self._thread.is_alive():
            self._session.close()

    def pending(self) -> int:
        with self._wake:
            return len(self._queue)

    def _drop(self, stamped: Stamped, reason: str) -> None:
        """One event given up before delivery: counted and logged."""
        self._metrics.dropped(self.sink.name, reason)
        log.warning(
            "notification_dropped",
            sink=self.sink.name,
            notification=stamped.event.kind.value,
            reason=reason,
        )

    # -- the sink's thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            stamped = self._next()
            if stamped is None:
                return
            try:
                self._deliver(stamped)
            except Exception as exc:  # a bug must not end delivery for good
                log.exception("notification_failed", sink=self.sink.name, error=repr(exc))

    def _next(self) -> Stamped | None:
        with self._wake:
            while not self._queue:
                if self._stopping.is_set():
                    return None
                self._wake.wait()
            if self._stopping.is_set() and time.monotonic() >= self._deadline:
                for left in self._queue:
                    self._drop(left, SHUTDOWN)
                self._queue.clear()
                self._metrics.queued(self.sink.name, 0)
                return None
            stamped = self._queue.popleft()
            self._metrics.queued(self.sink.name, len(self._queue))
            return stamped

    def _deliver(self, stamped: Stamped) -> None:
        policy, kind = self.policy, stamped.event.kind.value
        give_up = time.monotonic() + policy.give_up_after
        tries = 0
        while True:
            attempt = self._attempt(stamped)
            result = verdict(attempt)
            if result is not None:
                return self._settled(stamped, result, attempt, tries)
            wait = backoff(tries, policy)
            if attempt.status == 429:
                asked = retry_after(attempt.retry_after, now=self._wall())
                wait = min(asked, policy.retry_after_cap) if asked is not None else wait
            if time.monotonic() + wait > min(give_up, self._deadline):
                return self._settled(stamped, GAVE_UP, attempt, tries)
            tries += 1
            self._metrics.retried(self.sink.name)
            log.info(
                "notification_retry",
                sink=self.sink.name,
                notification=kind,
                status=attempt.status,
                error=attempt.error or None,
                retry_in=round(wait, 2),
            )
            if not self._sleep(wait):
                return self._settled(stamped, GAVE_UP, attempt, tries)

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``, cut short by a stop's deadline (then False)."""
        end = time.monotonic() + seconds
        with self._wake:
            while True:
                now = time.monotonic()
                if now >= self._deadline:
                    return False
                if now >= end:
                    return True
                self._wake.wait(min(end, self._deadline) - now)

    def _attempt(self, stamped: Stamped) -> Attempt:
        body, headers = self.sink.request(stamped, now=self._wall())
        try:
            response = self._session.post(
                self.sink.url,
                data=body,
                headers=headers,
                timeout=self.policy.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            return Attempt(None, error="timeout")
        except requests.RequestException as exc:
            # The exception's text names the URL, token and all: only its type is logged.
            return Attempt(None, error=type(exc).__name__)
        with response:
            return Attempt(response.status_code, response.headers.get("Retry-After"))

    def _settled(self, stamped: Stamped, result: str, attempt: Attempt, tries: int) -> None:
        kind = stamped.event.kind.value
        self._metrics.notified(self.sink.name, kind, result)
        fields = {
            "sink": self.sink.name,
            "to": self.sink.display,
            "notification": kind,
            "service": stamped.event.service or None,
            "status": attempt.status,
            "retries": tries,
        }
        if result == DELIVERED:
            log.info("notification_sent", **fields)
        else:
            log.warning("notification_" + result, error=attempt.error or None, **fields)
