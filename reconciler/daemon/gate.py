"""The clean stop: once the daemon is stopping, the tick starts no new AWS call.

The call in flight finishes; every write the reconciler makes is idempotent, so the next start
finishes whatever the stop interrupted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler import errors


class CallGate:
    """Closed on shutdown; then the tick thread's next AWS call raises instead of starting.

    Registered as an ``Aws.on_call`` hook, which runs before each call is sent. Only threads
    inside ``guard()`` (the tick) are stopped, so releasing the lease still works.
    """

    def __init__(self) -> None:
        self._closed = threading.Event()
        self._local = threading.local()

    def close(self) -> None:
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @contextmanager
    def guard(self) -> Iterator[None]:
        self._local.guarded = True
        try:
            yield
        finally:
            self._local.guarded = False

    def check(self, service: str, operation: str) -> None:
        if self._closed.is_set() and getattr(self._local, "guarded", False):
            raise errors.Interrupted(f"stopping: {operation} not started", delay=0.0)
