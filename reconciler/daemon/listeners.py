"""What a finished tick tells whoever listens (notifications, GitHub, the status page).

A listener runs on the tick's thread, after the statuses are recorded, so it must only hand the
view over (to a queue of its own) and return: it may never block or slow the loop. One that
raises is logged and the next listener still runs; the tick never fails for a listener.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from reconciler.daemon.revisions import Followed
from reconciler.pipeline.reconcile import ServiceOutcome
from reconciler.pipeline.status import ServiceStatus

log = structlog.get_logger("reconciler.daemon.listeners")


@dataclass(frozen=True)
class TickView:
    """One tick, finished: what each pass did, where every service stands, the source."""

    outcomes: Sequence[ServiceOutcome]  # the services reconciled in this tick (due ones only)
    statuses: Mapping[str, ServiceStatus]  # every known service, after this tick
    followed: Followed  # the newest revision, the last good one, a refused commit
    ended: Mapping[str, Sequence[str]] = field(default_factory=dict)  # rollout outcomes seen
    leading: bool = True  # whether this daemon wrote to AWS in this tick


TickListener = Callable[[TickView], None]


class Listeners:
    def __init__(self) -> None:
        self._listeners: list[TickListener] = []

    def add(self, listener: TickListener) -> None:
        self._listeners.append(listener)

    def tell(self, view: TickView) -> None:
        for listener in self._listeners:
            try:
                listener(view)
            except Exception as exc:  # a listener's bug must not fail the tick
                log.exception("listener_failed", error=f"{type(exc).__name__}: {exc}")
