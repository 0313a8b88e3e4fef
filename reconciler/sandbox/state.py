"""Sandbox bookkeeping stored on moto's own objects.

Keeping it on the backend (or target group) it describes means moto's reset, which rebuilds
every backend from scratch, clears it too: no second registry to forget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def attached(owner: Any, key: str, factory: Callable[[], T]) -> T:
    """The value stored on ``owner`` under ``key``, created by ``factory`` on first use."""
    slot = f"_sandbox_{key}"
    value: T | None = owner.__dict__.get(slot)
    if value is None:
        value = factory()
        owner.__dict__[slot] = value
    return value
