"""What the commands ask and tell on the terminal: a yes/no question, and each service's error."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from reconciler import errors
from reconciler.cli.exits import cannot_act
from reconciler.pipeline.reconcile import ServiceOutcome


def confirm(stdin: TextIO, stdout: TextIO, *, what: str = "apply") -> bool:
    if not stdin.isatty():
        raise errors.UsageError(
            f"refusing to {what} without --yes: standard input is not a terminal"
        )
    question = "Apply these changes?" if what == "apply" else f"{what.capitalize()} this change?"
    stdout.write(f"{question} Only 'yes' is accepted: ")
    stdout.flush()
    answer = stdin.readline().strip()
    if answer != "yes":
        print(f"{what} cancelled")
        return False
    return True


def report_errors(outcomes: Sequence[ServiceOutcome]) -> bool:
    """Print each service's error, or why it cannot act; True if there was any error."""
    for outcome in outcomes:
        if outcome.error is None and cannot_act(outcome) and outcome.diff is not None:
            print(f"{outcome.name}: cannot act: {outcome.diff.message}", file=sys.stderr)
    broken = [o for o in outcomes if o.error is not None]
    for outcome in broken:
        print(f"{outcome.name}: error: {outcome.error}", file=sys.stderr)
    return bool(broken)
