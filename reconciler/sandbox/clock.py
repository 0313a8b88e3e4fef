"""The sandbox's notion of time, separate from the wall clock so simulations can run fast.

Instance launches, health checks, draining deadlines and refresh progress all read
``SandboxClock.now()``.
Tests move time with ``advance``; ``reconciler sandbox --speed N`` runs it N times faster than the
wall clock. Speed 0 freezes it, which makes timing-dependent tests deterministic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Simulated UTC time: ``start + (monotonic elapsed) * speed + manual advances``."""

    def __init__(
        self,
        *,
        speed: float = 1.0,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError("clock speed must be >= 0")
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._speed = speed
        self._anchor_sim = start or datetime.now(UTC)
        self._anchor_real = monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value < 0:
            raise ValueError("clock speed must be >= 0")
        with self._lock:
            # Re-anchor so a speed change never makes time jump backwards.
            self._anchor_sim = self._now_locked()
            self._anchor_real = self._monotonic()
            self._speed = value

    def now(self) -> datetime:
        with self._lock:
            return self._now_locked()

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward; returns the new ``now()``."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._anchor_sim += timedelta(seconds=seconds)
            return self._now_locked()

    def reset(self) -> None:
        """Back to wall-clock time, keeping the speed."""
        with self._lock:
            self._anchor_sim = datetime.now(UTC)
            self._anchor_real = self._monotonic()

    def _now_locked(self) -> datetime:
        elapsed = (self._monotonic() - self._anchor_real) * self._speed
        return self._anchor_sim + timedelta(seconds=elapsed)
