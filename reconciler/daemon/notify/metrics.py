"""The notifications' metrics, in the daemon's registry, every series there from the start::

    reconciler_notifications_total{sink,event,result}   delivered | rejected | gave_up
    reconciler_notifications_dropped_total{sink,reason} queue_full | shutdown
    reconciler_notification_retries_total{sink}
    reconciler_notifications_queued{sink}               events waiting for their turn

``sink`` is the kind (``webhook``, ``slack``), numbered when given more than once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge


class NotifyMetrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        sinks: Sequence[str],
        events: Iterable[str],
        results: Sequence[str],
        drop_reasons: Sequence[str],
    ) -> None:
        self.total = Counter(
            "reconciler_notifications",
            "Notifications, by sink, event and how their delivery ended.",
            ["sink", "event", "result"],
            registry=registry,
        )
        self.drops = Counter(
            "reconciler_notifications_dropped",
            "Notifications dropped before delivery: the sink's queue was full, or the daemon "
            "stopped before it drained.",
            ["sink", "reason"],
            registry=registry,
        )
        self.retries = Counter(
            "reconciler_notification_retries",
            "Delivery attempts retried (5xx, 429, timeouts, connection errors).",
            ["sink"],
            registry=registry,
        )
        self.queue = Gauge(
            "reconciler_notifications_queued",
            "Notifications waiting in the sink's queue.",
            ["sink"],
            registry=registry,
        )
        kinds = list(events)
        for sink in sinks:
            for kind in kinds:
                for result in results:
                    self.total.labels(sink, kind, result)
            for reason in drop_reasons:
                self.drops.labels(sink, reason)
            self.retries.labels(sink)
            self.queue.labels(sink).set(0)

    def notified(self, sink: str, event: str, result: str) -> None:
        self.total.labels(sink, event, result).inc()

    def dropped(self, sink: str, reason: str) -> None:
        self.drops.labels(sink, reason).inc()

    def retried(self, sink: str) -> None:
        self.retries.labels(sink).inc()

    def queued(self, sink: str, count: int) -> None:
        self.queue.labels(sink).set(count)
