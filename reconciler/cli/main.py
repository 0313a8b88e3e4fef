"""The entry point: parse, run the command, and turn every kind of error into its exit code."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from reconciler import errors
from reconciler.cli import logs
from reconciler.cli.commands import print_problems
from reconciler.cli.exits import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_NOT_INSTALLED, EXIT_USAGE
from reconciler.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logs.configure(level=args.log_level)
        code: int = args.run(args)
        return code
    except errors.UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except errors.NotInstalled as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_INSTALLED
    except errors.InvalidDesiredState as exc:
        print_problems(exc.problems)
        errors_found = sum(1 for p in exc.problems if not p.warning)
        print(f"invalid: {errors_found} error(s)", file=sys.stderr)
        return EXIT_ERROR
    except errors.ReconcilerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours: still one line, the traceback only on request
        if logging.getLogger().isEnabledFor(logging.DEBUG) or os.environ.get("RECONCILER_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}"
            " (set RECONCILER_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR
