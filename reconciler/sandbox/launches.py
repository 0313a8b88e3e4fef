"""When each instance was launched, and when a terminating one leaves, kept on the moto instance
(a moto reset forgets it too)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reconciler.sandbox import timing

PENDING = "Pending"
IN_SERVICE = "InService"
TERMINATING = "Terminating"
_LAUNCHED_AT = "_sandbox_launched_at"
_LEAVES_AT = "_sandbox_leaves_at"


def record(state: Any, now: datetime) -> None:
    """A group just launched this instance: it is pending until it has booted."""
    state.lifecycle_state = PENDING
    state.instance.__dict__[_LAUNCHED_AT] = now


def backdate(instance: Any, when: datetime) -> None:
    instance.__dict__[_LAUNCHED_AT] = when


def launched_at(instance: Any) -> datetime | None:
    """When a group launched it; None for instances the simulation did not see start."""
    found: datetime | None = instance.__dict__.get(_LAUNCHED_AT)
    return found


def in_service_at(instance: Any) -> datetime | None:
    started = launched_at(instance)
    return None if started is None else started + timedelta(seconds=timing.LAUNCH_SECONDS)


def leave_at(state: Any, when: datetime) -> None:
    """The group is terminating this instance: ``Terminating`` until ``when``, then gone."""
    state.lifecycle_state = TERMINATING
    state.instance.__dict__[_LEAVES_AT] = when


def leaves_at(instance: Any) -> datetime | None:
    found: datetime | None = instance.__dict__.get(_LEAVES_AT)
    return found
