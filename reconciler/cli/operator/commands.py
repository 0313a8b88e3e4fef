"""``rollback`` and ``pause``: each turns its arguments into an ``Edit``; ``author`` commits it."""

from __future__ import annotations

from reconciler import errors
from reconciler.cli.operator.author import author
from reconciler.cli.operator.edit import Authored, Authoring, Edit, Located
from reconciler.cli.operator.locate import candidates, image_at, locate
from reconciler.cli.operator.record import Verdicts
from reconciler.cli.operator.targets import Choice, choose_previous, verdict_of
from reconciler.cli.operator.worktree import WorkTree
from reconciler.cli.operator.yamltext import set_image, set_paused

PREVIOUS = "previous"


def rollback(how: Authoring, *, to: str = PREVIOUS, verdicts: Verdicts | None = None) -> Authored:
    """Commit the image the service had at ``to`` (a git revision, or ``previous``: the newest
    earlier one that ran successfully, as ``verdicts`` tell from AWS's record)."""
    work, located = _open(how)
    edit = rollback_edit(work, located, to=to, reason=how.reason, verdicts=verdicts)
    return author(work, edit, how)


def pause(how: Authoring, *, resume: bool = False) -> Authored:
    """Commit ``spec.paused: true`` for the service (``resume``: remove it)."""
    work, located = _open(how)
    return author(work, pause_edit(located, resume=resume, reason=how.reason), how)


def _open(how: Authoring) -> tuple[WorkTree, Located]:
    work = WorkTree(how.repo)
    work.require_clean()
    return work, locate(repo=work.root, path=how.path, service=how.service)


def rollback_edit(
    work: WorkTree,
    located: Located,
    *,
    to: str,
    reason: str | None,
    verdicts: Verdicts | None = None,
) -> Edit:
    """Set the service's image back to the one it had at ``to``."""
    current, service = located.image, located.service
    if current is None:
        raise errors.OperatorError(f"{service}: {located.relative} has no spec.image to roll back")
    chosen = _target(work, located, to=to, verdicts=verdicts)
    revision, target = chosen.commit, chosen.image
    if target == current:
        raise errors.OperatorError(
            f"{service}: the image at {revision[:12]} is the current one ({current}); "
            "nothing to roll back"
        )
    subject = work.subject(revision)
    summary = f"{service}: image {current} → {target}"
    message = (
        f"rollback {service}: {current.short()} → {target.short()}\n\n"
        f"Roll back the image of service {service} ({located.relative})\n"
        f"from {current}\n"
        f"to   {target},\n"
        f"the image it had at commit {revision[:12]} ({subject}),\n"
        f"{chosen.why}.\n\n"
        f"Reason: {_why(reason)}\n\n"
        f"Rollback-Service: {service}\n"
        f"Rollback-From: {current}\n"
        f"Rollback-To: {target}\n"
        f"Rollback-Source-Commit: {revision}\n"
    )
    return Edit(
        located=located,
        change=lambda text: set_image(text, document=located.document, old=current, new=target),
        summary=summary,
        notes=(
            f"rollback {summary}",
            f"  to the image of commit {revision[:12]} ({subject}): {chosen.why}",
            *(f"  skipped {skipped}" for skipped in chosen.skipped),
        ),
        message=message,
    )


def _target(work: WorkTree, located: Located, *, to: str, verdicts: Verdicts | None) -> Choice:
    """The commit to roll back to, the service's image there, and why that one."""
    if to == PREVIOUS:
        if verdicts is None:
            raise errors.OperatorError(
                f"{located.service}: cannot tell which revisions ran successfully without AWS; "
                "name the revision with --to REV"
            )
        return choose_previous(
            located.image, candidates(work, located=located), verdicts(work, located)
        )
    revision = work.commit_of(to)
    found = image_at(work, revision=revision, file=located.relative, service=located.service)
    if found is None:
        raise errors.OperatorError(
            f"{located.service}: not found in {located.relative} at {revision[:12]} ({to})"
        )
    try:
        known = verdict_of(revision, found, verdicts(work, located)) if verdicts else None
    except errors.OperatorError as exc:  # named: AWS's word is only shown, never needed
        return Choice(revision, found, f"named with --to {to} (not checked: {exc})", ())
    if known is None:
        why = f"named with --to {to}"
    elif known.ok:
        why = f"named with --to {to}; it ran successfully ({known.why})"
    else:
        why = f"named with --to {to}, though {known.why}"
    return Choice(revision, found, why, ())


def pause_edit(located: Located, *, resume: bool, reason: str | None) -> Edit:
    """Set ``spec.paused: true`` on the service (``resume``: remove it)."""
    service = located.service
    if located.paused != resume:
        state = "paused" if located.paused else "not paused"
        raise errors.OperatorError(f"{service}: already {state} in {located.relative}")
    verb = "resume" if resume else "pause"
    summary = f"{service}: spec.paused {'true → (removed)' if resume else '(unset) → true'}"
    effect = (
        "The reconciler applies changes to it again."
        if resume
        else "The reconciler keeps showing its diff but applies nothing to it until resumed."
    )
    message = (
        f"{verb} {service}\n\n"
        f"{'Remove' if resume else 'Set'} spec.paused of service {service} ({located.relative}). "
        f"{effect}\n\n"
        f"Reason: {_why(reason)}\n"
    )
    return Edit(
        located=located,
        change=lambda text: set_paused(text, document=located.document, paused=not resume),
        summary=summary,
        notes=(f"{verb} {summary}",),
        message=message,
    )


def _why(reason: str | None) -> str:
    return reason.strip() if reason and reason.strip() else "no reason given (--reason)"
