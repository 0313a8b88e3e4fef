"""``apply`` after its first pass: ``--wait`` follows the rollout until every service settled,
showing (and asking about) any change it had not shown; a plain apply finishes the cancel of an
older refresh it started; a failed rollout ends with what the instances run now.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reconciler.cli import render, report
from reconciler.cli.bluegreen_text import blue_green_aftermath
from reconciler.cli.exits import EXIT_ERROR, EXIT_HELD, apply_exit, held
from reconciler.cli.options import WAIT_TIMEOUT
from reconciler.cli.prompts import confirm, report_errors
from reconciler.model import Phase, ServiceSpec
from reconciler.pipeline.aftermath import aftermath
from reconciler.pipeline.bluegreen_status import blue_green_status
from reconciler.pipeline.follow import Follower, Verdict, change_keys, failed, progress_line
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome


def follow_apply(
    args: argparse.Namespace,
    reconciler: Reconciler,
    specs: Sequence[ServiceSpec],
    outcomes: Sequence[ServiceOutcome],
) -> int:
    """After the first pass: ``--wait`` follows the rollout to its end; a plain apply finishes
    a cancel it started. The exit code."""
    follower = Follower(
        reconciler=reconciler,
        specs=specs,
        timeout=args.timeout or WAIT_TIMEOUT,
        interval=args.poll,
        report=lambda status: print(progress_line(status), flush=True),
        shown=change_keys(outcomes),
        approve=lambda seen: _approve(seen, yes=args.yes),
    )
    if not args.wait:
        return _finish_superseding(follower, outcomes)
    followed = follower.run()
    if follower.refused:
        print("apply --wait: stopped: new changes were not applied", file=sys.stderr)
        return EXIT_ERROR
    if followed.verdict is Verdict.FAILED:
        _print_aftermath(followed.outcomes)
    else:
        report_errors(followed.outcomes)
    print(f"apply --wait: {followed.verdict.name.lower()}")
    if followed.verdict is Verdict.READY and held(outcomes):
        return EXIT_HELD
    return int(followed.verdict)


def _finish_superseding(follower: Follower, outcomes: Sequence[ServiceOutcome]) -> int:
    """Plain ``apply`` that cancelled an older refresh finishes what it started: it waits for
    the cancel to end and starts the new refresh (Cancelling is active, and only one refresh
    may be: aws-facts 1.1), so it never leaves a group on mixed versions with no refresh
    running. Waiting is bounded by ``--timeout``; on timeout it says what is left (exit 4)."""
    if not any(_superseding(o) for o in outcomes):
        code = apply_exit(outcomes)
        _print_aftermath(outcomes)
        return code
    print("waiting for the older refresh to be cancelled, then starting the new one", flush=True)
    follower.until = lambda seen, _statuses: (
        None if any(_superseding(o) for o in seen) else Verdict.READY
    )
    followed = follower.run()
    if follower.refused:
        print("apply: stopped: new changes were not applied", file=sys.stderr)
        return EXIT_ERROR
    left = [o.name for o in followed.outcomes if _superseding(o)]
    if followed.verdict is Verdict.TIMEOUT and left:
        print(
            f"apply: timed out: {', '.join(left)}: the older refresh is still being cancelled "
            "and the new one is not started; run apply again to start it",
            file=sys.stderr,
        )
        return int(Verdict.TIMEOUT)
    if report_errors(followed.outcomes):
        return EXIT_ERROR
    code = apply_exit(followed.outcomes)
    _print_aftermath(followed.outcomes)
    return code


def _superseding(outcome: ServiceOutcome) -> bool:
    """An older refresh is still in the way of the desired one (being cancelled)."""
    return outcome.diff is not None and outcome.diff.phase is Phase.SUPERSEDING


def _approve(outcomes: Sequence[ServiceOutcome], *, yes: bool) -> bool:
    """Changes found while following that the operator was not shown: show them, and ask as
    apply asks (``--yes`` answered already). Never applied unseen."""
    diffs = [o.diff for o in outcomes if o.diff is not None and o.diff.changes]
    print("new changes found while following the rollout:", flush=True)
    print(render.text(diffs))
    plans = [o.plan for o in outcomes if o.plan is not None and not o.plan.empty]
    print(render.plan_text(plans), flush=True)
    if yes:
        return True
    if not sys.stdin.isatty():
        print("not applied: no terminal to ask (apply --yes applies them)", file=sys.stderr)
        return False
    return confirm(sys.stdin, sys.stdout)


def _print_aftermath(outcomes: Sequence[ServiceOutcome]) -> None:
    """What each failed rollout left running, and what to do about it."""
    for outcome in failed(outcomes):
        sides = blue_green_status(outcome)
        if sides is not None:
            message = outcome.diff.message if outcome.diff is not None else ""
            print(blue_green_aftermath(outcome.name, message, sides), flush=True)
        else:
            print(report.aftermath_text(aftermath(outcome)), flush=True)
