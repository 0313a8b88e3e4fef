"""Every answer's ``Date`` header is the sandbox clock's time.

An AWS response's ``Date`` is AWS's own clock, and the reconciler measures windows over AWS's
timestamps (refresh start, metric periods) on it (``Aws.server_time``). moto's server stamps
the wall clock, which in the sandbox is not the clock the world moves on.
"""

from __future__ import annotations

import email.utils
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

from reconciler.sandbox import runtime
from reconciler.sandbox.patching import patch


def install() -> None:
    patch(MotoRequestHandler, "date_time_string", _date_time_string)


def _date_time_string(self: Any, timestamp: float | None = None) -> str:
    moment = timestamp if timestamp is not None else runtime.current().clock.now().timestamp()
    return email.utils.formatdate(moment, usegmt=True)
