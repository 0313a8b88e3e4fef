"""The daemon's entry points under their first path, for the callers not moved yet.

``reconciler run`` (``cli.cmd_run``) and the demo import these from here; each lives in the
module that does its one job: ``daemon`` (the tick) and ``run`` (building and running it).
"""

from reconciler.daemon.daemon import Daemon, TickResult
from reconciler.daemon.run import (
    RunConfig,
    build_daemon,
    build_source,
    parse_duration,
    run,
    webhook_secret,
)

__all__ = [
    "Daemon",
    "RunConfig",
    "TickResult",
    "build_daemon",
    "build_source",
    "parse_duration",
    "run",
    "webhook_secret",
]
