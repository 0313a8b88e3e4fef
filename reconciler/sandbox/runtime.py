"""The process-wide simulation context the moto patches read: clock, health, traffic and lock.

moto keeps its backends in module globals, so there is one emulated AWS per process, and the
patches installed into moto's classes need one place to find the clock and health model of the
sandbox that is running (and its traffic settings and image behaviours, which tests change
through ``Sandbox.traffic`` and ``Sandbox.behaviours``). ``Sandbox.start`` activates its own
context here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.sandbox.behaviour import Behaviours
from reconciler.sandbox.clock import SandboxClock
from reconciler.sandbox.health import HealthChecks, TargetHealthModel
from reconciler.sandbox.traffic_settings import TrafficSettings


@dataclass(slots=True)
class Runtime:
    clock: SandboxClock = field(default_factory=SandboxClock)
    health: TargetHealthModel = field(default_factory=HealthChecks)
    behaviours: Behaviours = field(default_factory=Behaviours)
    traffic: TrafficSettings = field(default_factory=TrafficSettings)
    # The threaded server runs requests concurrently; simulation steps that touch several moto
    # objects (a group, its instances, its target groups) hold this lock.
    lock: threading.RLock = field(default_factory=threading.RLock)
    # While the simulation catches up with the clock it replays time in steps; everything it
    # does (launches, registrations, health checks) happens at the step's moment, not at now.
    replaying_at: datetime | None = None

    def now(self) -> datetime:
        return self.replaying_at if self.replaying_at is not None else self.clock.now()

    @contextmanager
    def at(self, moment: datetime) -> Iterator[None]:
        """Run the block as if the clock said ``moment``."""
        saved = self.replaying_at
        self.replaying_at = moment
        try:
            yield
        finally:
            self.replaying_at = saved


_current = Runtime()


def current() -> Runtime:
    return _current


def activate(runtime: Runtime) -> None:
    global _current
    _current = runtime
