"""The process-wide simulation context the moto patches read: clock, health model and lock.

moto keeps its backends in module globals, so there is one emulated AWS per process, and the
patches installed into moto's classes need one place to find the clock and health model of the
sandbox that is running. ``Sandbox.start`` activates its own context here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from reconciler.sandbox.clock import SandboxClock
from reconciler.sandbox.health import RunningIsHealthy, TargetHealthModel


@dataclass(slots=True)
class Runtime:
    clock: SandboxClock = field(default_factory=SandboxClock)
    health: TargetHealthModel = field(default_factory=RunningIsHealthy)
    # The threaded server runs requests concurrently; simulation steps that touch several moto
    # objects (a group, its instances, its target groups) hold this lock.
    lock: threading.RLock = field(default_factory=threading.RLock)


_current = Runtime()


def current() -> Runtime:
    return _current


def activate(runtime: Runtime) -> None:
    global _current
    _current = runtime
