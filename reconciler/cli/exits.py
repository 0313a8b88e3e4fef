"""The CLI's exit codes, one table for the commands that return them and the entry that maps errors.

0 success (for ``diff``: nothing to apply), 1 error or invalid input, 2 usage (for ``diff``:
changes pending). ``apply`` adds 3 (the rollout failed: with ``--wait`` once AWS has finished
rolling it back) and, with ``--wait``, 4 (timeout); these are ``follow.Verdict``'s values; and 5
(held: a paused service has changes that apply did not make). An interrupt exits 130, as a shell
reports SIGINT; a closed output pipe (``status | head``) exits 141 quietly, as a shell reports
SIGPIPE. ``EXIT_CODES`` is the whole set: the README's command table lists each.

``diff_exit`` and ``apply_exit`` decide from one pass's outcomes, as pure functions:

- an error, or a service that cannot act (a missing or foreign-owned resource) is 1: neither
  command can say what AWS would become. A paused service can act, it just does not;
- ``diff``: 2 when any service lists a change, else 0. A rollout in progress lists none (the
  refresh carries it), so it is 0; settings drift found during it is a change;
- ``apply``: 3 when the desired revision's rollout failed before and is not retried; 5 when a
  paused service has changes (apply was asked to make AWS match and did not), else 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model import Phase, ServiceOutcome

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2
EXIT_FAILED = 3
EXIT_TIMEOUT = 4
EXIT_HELD = 5
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141
EXIT_CODES = frozenset(
    {
        EXIT_OK,
        EXIT_ERROR,
        EXIT_USAGE,
        EXIT_FAILED,
        EXIT_TIMEOUT,
        EXIT_HELD,
        EXIT_INTERRUPTED,
        EXIT_PIPE,
    }
)


def cannot_act(outcome: ServiceOutcome) -> bool:
    """Blocked by a missing or foreign-owned resource: not paused, which is a choice."""
    diff = outcome.diff
    return diff is not None and diff.phase is Phase.BLOCKED and not outcome.spec.paused


def held(outcomes: Sequence[ServiceOutcome]) -> list[str]:
    """Paused services with changes: apply leaves them, so AWS does not match the files."""
    return [
        o.name
        for o in outcomes
        if o.spec.paused and o.diff is not None and o.diff.changes and o.error is None
    ]


def diff_exit(outcomes: Sequence[ServiceOutcome]) -> int:
    if any(o.error is not None or cannot_act(o) for o in outcomes):
        return EXIT_ERROR
    if any(o.diff is not None and o.diff.changes for o in outcomes):
        return EXIT_CHANGES
    return EXIT_OK


def apply_exit(outcomes: Sequence[ServiceOutcome]) -> int:
    """``apply`` without ``--wait``, after it applied what it planned."""
    if any(o.error is not None or cannot_act(o) for o in outcomes):
        return EXIT_ERROR
    if any(o.diff is not None and o.diff.phase is Phase.FAILED for o in outcomes):
        return EXIT_FAILED
    return EXIT_HELD if held(outcomes) else EXIT_OK


# What each command can exit with, in words: its --help epilog, the fuzz test's oracle, and the
# README's command table (tests/test_cli_fuzz.py checks each row lists these codes).
_EVERY = {EXIT_INTERRUPTED: "interrupted", EXIT_PIPE: "its output pipe was closed"}
_USAGE = {EXIT_USAGE: "usage"}
_LOADS = {EXIT_ERROR: "error (invalid desired files, AWS unreadable...)"}
COMMAND_EXITS: dict[str, dict[int, str]] = {
    "validate": {EXIT_OK: "valid", EXIT_ERROR: "invalid", **_USAGE},
    "diff": {
        EXIT_OK: "nothing to apply",
        EXIT_ERROR: "error, bad arguments included, or a service that cannot act",
        EXIT_CHANGES: "changes",
    },
    "apply": {
        EXIT_OK: "ok",
        EXIT_ERROR: "error, a service that cannot act, or the prompt not answered 'yes'",
        EXIT_USAGE: "usage (no --yes without a terminal; --timeout without --wait)",
        EXIT_FAILED: "rollout failed",
        EXIT_TIMEOUT: "timeout (--wait)",
        EXIT_HELD: "held: a paused service has changes apply did not make",
    },
    "status": {EXIT_OK: "ok", **_LOADS, **_USAGE},
    "history": {EXIT_OK: "ok", **_LOADS, **_USAGE},
    "retry": {EXIT_OK: "ok", **_LOADS, **_USAGE},
    "rollback": {EXIT_OK: "committed", EXIT_ERROR: "cannot author the commit", **_USAGE},
    "pause": {EXIT_OK: "committed", EXIT_ERROR: "cannot author the commit", **_USAGE},
    "demo": {EXIT_OK: "every step behaved", EXIT_ERROR: "a step did not", **_USAGE},
    "sandbox": {EXIT_OK: "stopped", EXIT_ERROR: "cannot serve (a busy port)", **_USAGE},
    "run": {
        EXIT_OK: "stopped by SIGTERM or SIGINT",
        EXIT_ERROR: "cannot start (a busy port), or --once met an error",
        **_USAGE,
    },
}
for _codes in COMMAND_EXITS.values():
    _codes.update(_EVERY)


def epilog(command: str) -> str:
    codes = COMMAND_EXITS[command]
    return "exit codes: " + ", ".join(f"{code} {codes[code]}" for code in sorted(codes))
