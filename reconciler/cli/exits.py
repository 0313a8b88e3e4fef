"""The CLI's exit codes, one table for the commands that return them and the entry that maps errors.

0 success (for ``diff``: nothing to apply), 1 error or invalid input, 2 usage (for ``diff``:
changes pending). ``apply`` adds 3 (the rollout failed: with ``--wait`` once AWS has finished
rolling it back) and, with ``--wait``, 4 (timeout); these are ``follow.Verdict``'s values.
``sandbox`` and ``demo`` exit 5 when the ``[sandbox]`` extra is not installed. An interrupt
exits 130, as a shell reports SIGINT.

``diff_exit`` and ``apply_exit`` decide from one pass's outcomes, as pure functions:

- an error, or a service that cannot act (a missing or foreign-owned resource) is 1: neither
  command can say what AWS would become. A paused service can act, it just does not;
- ``diff``: 2 when any service lists a change, else 0. A rollout in progress lists none (the
  refresh carries it), so it is 0; settings drift found during it is a change;
- ``apply``: 3 when the desired revision's rollout failed before and is not retried, else 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model import Phase, ServiceOutcome

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2
EXIT_FAILED = 3
EXIT_NOT_INSTALLED = 5
EXIT_INTERRUPTED = 130


def cannot_act(outcome: ServiceOutcome) -> bool:
    """Blocked by a missing or foreign-owned resource: not paused, which is a choice."""
    diff = outcome.diff
    return diff is not None and diff.phase is Phase.BLOCKED and not outcome.spec.paused


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
    return EXIT_OK
