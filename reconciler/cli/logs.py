"""structlog configuration: JSON lines for machines, a console format on a terminal.

Everything the process writes to its log goes through the one renderer, so a JSON log stays one
JSON object per line: structlog's own events (an exception becomes an ``exception`` field),
stdlib ``logging`` records (apscheduler, botocore, http.server's helpers) and an exception that
ends a thread (``threading.excepthook``), which Python would otherwise print as a raw traceback.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

import structlog

LEVELS = ("debug", "info", "warning", "error")

_log = structlog.get_logger("reconciler.thread")


def configure(
    *, level: str = "info", stream: TextIO | None = None, json: bool | None = None
) -> None:
    out = stream or sys.stderr
    as_json = (not out.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if as_json:  # the console renderer prints exc_info itself, readably
        shared.append(structlog.processors.format_exc_info)
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(out, numeric, shared, renderer)
    threading.excepthook = _thread_died


def _route_stdlib(
    out: TextIO,
    level: int,
    shared: list[structlog.typing.Processor],
    renderer: structlog.typing.Processor,
) -> None:
    """stdlib ``logging`` records rendered as structlog renders its own, on the same stream."""
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_reconciler", False)]:
        root.removeHandler(old)
    handler._reconciler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(max(level, logging.INFO))  # botocore's debug lines would drown ours


def _thread_died(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    thread = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    _log.error("thread_died", thread=thread, exc_info=exc_info)
