"""The daemon's listener that notifies: derive the tick's events (on the tick's thread, pure
and quick), hand them to each sink's outbox, and return."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import structlog

from reconciler.daemon.listeners import Listeners, TickView
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.notify.delivery import DROP_REASONS, RESULTS, Outbox, Policy
from reconciler.daemon.notify.events import Kind, Memory, derive
from reconciler.daemon.notify.metrics import NotifyMetrics
from reconciler.daemon.notify.sinks import Sink, Stamped

log = structlog.get_logger("reconciler.daemon.notify")

FLUSH = 5.0  # seconds a stop waits for queued notifications


class Notifier:
    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        metrics: Metrics,
        policy: Policy | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._wall = wall
        self._memory = Memory()
        self._lock = threading.Lock()  # ticks are serial; this keeps a stray caller safe too
        counters = NotifyMetrics(
            metrics.registry,
            sinks=[s.name for s in sinks],
            events=[k.value for k in Kind],
            results=RESULTS,
            drop_reasons=DROP_REASONS,
        )
        self.outboxes = [Outbox(s, metrics=counters, policy=policy, wall=wall) for s in sinks]

    def attach(self, listeners: Listeners) -> Notifier:
        """Start the sinks' threads and listen to the daemon's ticks."""
        for outbox in self.outboxes:
            outbox.start()
        listeners.add(self)
        log.info("notifying", sinks=[f"{o.sink.name} {o.sink.display}" for o in self.outboxes])
        return self

    def __call__(self, view: TickView) -> None:
        with self._lock:
            self._memory, events = derive(self._memory, view)
        at = self._wall()
        for event in events:
            stamped = Stamped(event, at)
            for outbox in self.outboxes:
                outbox.offer(stamped)

    def stop(self, *, flush: float = FLUSH) -> None:
        """Deliver what is queued, for ``flush`` seconds at most in all."""
        stops = [
            threading.Thread(target=o.stop, kwargs={"flush": flush}, daemon=True)
            for o in self.outboxes
        ]
        for thread in stops:
            thread.start()
        for thread in stops:
            thread.join()
