"""The entry point: parse, run the command, and turn every kind of error into its exit code.

Every way out is one of ``exits.EXIT_CODES``: a command's own code, 2 for a usage error (argparse's
included: it raises here rather than exiting), 1 for an error, 130 for an interrupt, 141 when
the reader of standard output went away (``reconciler status | head``: quiet, as Unix tools are).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from reconciler import errors
from reconciler.cli import logs
from reconciler.cli.commands import print_problems
from reconciler.cli.exits import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PIPE, EXIT_USAGE
from reconciler.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE


def _main(argv: Sequence[str] | None) -> int:
    debug = bool(os.environ.get("RECONCILER_DEBUG"))
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as done:  # --help and --version print, then argparse exits
            return EXIT_OK if done.code in (None, 0) else EXIT_USAGE
        debug = debug or args.log_level == "debug"
        logs.configure(level=args.log_level)
        code: int = args.run(args)
        return code
    except errors.UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
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
    except BrokenPipeError:
        raise
    except Exception as exc:  # a bug of ours: still one line, the traceback only on request
        if debug:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}"
            " (set RECONCILER_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR


def _silence_stdout() -> None:
    """Python flushes stdout once more at exit, into the closed pipe, and prints that error: point
    the descriptor at /dev/null first (the recipe of Python's ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stream without a descriptor (a test's)
        pass
