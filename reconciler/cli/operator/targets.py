"""Which earlier revision ``rollback --to previous`` goes back to: pure, over plain data.

"Previous" is the newest commit before HEAD whose image differs from HEAD's and whose image
last ran successfully, as AWS records it (``Verdict``s, read from the launch template versions
the reconciler made and their refreshes' outcomes). A revision whose rollout failed is never
chosen here; an operator who means it names it with ``--to REV``. A commit whose image AWS has
no verdict on (it never reached AWS, or before the record) is not "ran successfully" either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler import errors
from reconciler.cli.operator.edit import Image


@dataclass(frozen=True, slots=True)
class Candidate:
    """A commit of the service's desired file, and the service's image there."""

    commit: str
    subject: str
    image: Image


@dataclass(frozen=True, slots=True)
class Verdict:
    """One revision AWS records a rollout of, newest first: did it run successfully?"""

    revision: str  # as recorded: a commit, usually its first 12 hex digits
    image: Image | None  # the service's image at that commit in git; None when git lacks it
    ok: bool
    why: str  # "refresh Successful", "rollout failed: 5xx rate 13% ...", "refresh Cancelled"


@dataclass(frozen=True, slots=True)
class Choice:
    commit: str
    image: Image
    why: str  # why this target, in words
    skipped: tuple[str, ...]  # the newer candidates passed over, each with its reason


def verdict_of(commit: str, image: Image, verdicts: Sequence[Verdict]) -> Verdict | None:
    """The newest verdict that speaks for ``commit``: its own, else its image's last rollout."""
    own = next((v for v in verdicts if commit.startswith(v.revision)), None)
    if own is not None:
        return own
    return next((v for v in verdicts if v.image == image), None)


def choose_previous(
    current: Image | None, candidates: Sequence[Candidate], verdicts: Sequence[Verdict]
) -> Choice:
    """The newest candidate (newest first, HEAD left out) with another image that ran
    successfully; ``OperatorError`` naming what was skipped when there is none."""
    skipped: list[str] = []
    seen: set[Image] = set()
    for candidate in candidates:
        image = candidate.image
        if image == current or image in seen:
            continue
        seen.add(image)
        verdict = verdict_of(candidate.commit, image, verdicts)
        label = f"{candidate.commit[:12]} ({image.short()})"
        if verdict is None:
            skipped.append(f"{label}: AWS records no rollout of it")
        elif not verdict.ok:
            skipped.append(f"{label}: {verdict.why}")
        else:
            why = f"the newest earlier revision that ran successfully ({verdict.why})"
            return Choice(candidate.commit, image, why, tuple(skipped))
    passed = "; ".join(skipped) if skipped else "none has another image"
    raise errors.OperatorError(
        f"no earlier revision with another image ran successfully (skipped: {passed}); "
        "name the revision with --to REV to roll back to it anyway"
    )
