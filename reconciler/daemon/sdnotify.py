"""systemd's service notification protocol (sd_notify), spoken by the daemon under ``Type=notify``.

The protocol (sd_notify(3), "Notes"): one datagram per message, sent on the ``AF_UNIX``
``SOCK_DGRAM`` socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace), holding newline-separated ``VARIABLE=value`` assignments: ``READY=1``,
``WATCHDOG=1``, ``STOPPING=1``, ``STATUS=...``. ``$WATCHDOG_USEC`` (with ``$WATCHDOG_PID``, when
set, naming this process) is ``WatchdogSec=`` in microseconds: miss a ``WATCHDOG=1`` for that long
and systemd kills and restarts the service.

The daemon says READY once its first tick has finished (the loop works, the HTTP server listens)
and WATCHDOG after every tick, so a tick stuck for longer than ``WatchdogSec`` (a hung call
that escaped its timeout, a deadlock) is a restart, not a silent stop. Under no supervisor
(no ``$NOTIFY_SOCKET``) nothing is sent. A send that fails is logged once, never raised: the
supervisor's socket must not be able to fail a tick.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from reconciler import errors
from reconciler.daemon.listeners import TickView

log = structlog.get_logger("reconciler.daemon.sdnotify")


def socket_address(value: str) -> str | bytes:
    """``$NOTIFY_SOCKET`` as an ``AF_UNIX`` address: a path, or ``@name`` (abstract namespace)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    raise errors.UsageError(
        f"NOTIFY_SOCKET={value!r}: not a unix socket path (/...) or abstract name (@...)"
    )


def watchdog_seconds(env: Mapping[str, str], *, pid: int) -> float | None:
    """``WatchdogSec=`` of this process in seconds, from ``$WATCHDOG_USEC``; None when off.

    ``$WATCHDOG_PID`` names the process systemd watches: a child that inherited the variables
    (a hook, a test) must not think the watchdog is its own."""
    usec = env.get("WATCHDOG_USEC", "").strip()
    watched = env.get("WATCHDOG_PID", "").strip()
    if not usec or (watched and watched != str(pid)):
        return None
    if not usec.isdigit() or int(usec) == 0:
        raise errors.UsageError(f"WATCHDOG_USEC={usec!r}: not a positive number of microseconds")
    return int(usec) / 1_000_000


def message(fields: Mapping[str, str]) -> bytes:
    """One datagram of ``KEY=value`` lines; a newline in a value would start a field."""
    lines = []
    for key, value in fields.items():
        if not key.isupper() or "\n" in value:
            raise ValueError(f"not a notification field: {key}={value!r}")
        lines.append(f"{key}={value}")
    return "\n".join(lines).encode()


@dataclass
class Notifier:
    """Sends to one notification socket. ``from_env`` is None outside ``Type=notify``."""

    address: str | bytes
    watchdog: float | None = None
    _ready: bool = field(default=False, init=False)
    _failed: bool = field(default=False, init=False)
    _stopping: bool = field(default=False, init=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Notifier | None:
        value = env.get("NOTIFY_SOCKET", "").strip()
        if not value:
            return None
        return cls(address=socket_address(value), watchdog=watchdog_seconds(env, pid=os.getpid()))

    def send(self, **fields: str) -> bool:
        data = message(fields)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(data, socket.MSG_DONTWAIT, self.address)
        except OSError as exc:
            if not self._failed:  # once: a gone supervisor would otherwise log every tick
                log.warning("sd_notify_failed", error=str(exc), fields=sorted(fields))
            self._failed = True
            return False
        return True

    def tick_finished(self, view: TickView) -> None:
        """A ``TickListener``: READY after the first tick, WATCHDOG after every one, until
        stopping (the tick in flight then ends after STOPPING, and says nothing more)."""
        if self._stopping:
            return
        revision = view.followed.revision or "none"
        status = f"revision {revision[:12]}: {len(view.statuses)} service(s)"
        fields = {"WATCHDOG": "1", "STATUS": status}
        if not self._ready:
            fields = {"READY": "1", **fields}
        self._ready = self.send(**fields) or self._ready

    def stopping(self) -> None:
        self._stopping = True
        self.send(STOPPING="1", STATUS="stopping: finishing the AWS call in flight")

    def check_interval(self, longest_gap: float) -> None:
        """Warn when ticks may be further apart than ``WatchdogSec``: systemd would kill a
        healthy daemon (``longest_gap``: the interval, or the longest back-off, if longer)."""
        if self.watchdog is not None and longest_gap >= self.watchdog:
            log.warning(
                "watchdog_shorter_than_ticks",
                watchdog_seconds=self.watchdog,
                longest_gap_seconds=longest_gap,
                fix="raise WatchdogSec= above the interval and the back-off cap",
            )
