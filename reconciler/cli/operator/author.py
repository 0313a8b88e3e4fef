"""``author``: apply an operator's ``Edit`` to the work tree, validate it, show it and commit it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reconciler import desired, errors
from reconciler.cli.operator.edit import Authored, Authoring, Edit
from reconciler.cli.operator.worktree import WorkTree


def author(work: WorkTree, edit: Edit, how: Authoring) -> Authored:
    """Make ``edit``, check the desired state at ``how.path`` still loads, and commit it.

    Whatever goes wrong before the commit (an invalid result, a failing git, an interrupt), the
    file is restored and nothing stays staged. ``dry_run`` shows the change and then restores it.
    """
    say = how.say
    for note in edit.notes:
        say(note)
    located = edit.located
    updated = edit.change(located.file.read_text(encoding="utf-8"))
    original = located.file.read_bytes()
    located.file.write_bytes(updated.encode("utf-8"))
    try:
        _validate(work.root / how.path)
        diff = work.run("diff", "--", str(located.relative))
        say(diff)
        if how.dry_run:
            located.file.write_bytes(original)
            say("dry run: nothing committed")
            return _authored(edit, diff=diff, commit=None)
        if how.confirm is not None and not how.confirm(edit.summary):
            raise errors.OperatorError(f"cancelled: nothing committed ({edit.summary})")
        work.commit(located.relative, edit.message)
    except BaseException:
        work.unstage(located.relative)
        located.file.write_bytes(original)
        raise
    commit = work.run("rev-parse", "HEAD")
    say(f"committed {commit[:12]}: {edit.message.splitlines()[0]}")
    pushed = _push(work, say=say) if how.push else False
    return _authored(edit, diff=diff, commit=commit, pushed=pushed)


def _validate(path: Path) -> None:
    """The edited desired state must load, or nothing is committed."""
    try:
        desired.load([path])
    except errors.InvalidDesiredState as exc:
        raise errors.OperatorError(f"the change would not validate: {exc}") from None


def _push(work: WorkTree, *, say: Callable[[str], None]) -> bool:
    remote, branch = work.push()
    say(f"pushed to {remote} {branch}")
    return True


def _authored(edit: Edit, *, diff: str, commit: str | None, pushed: bool = False) -> Authored:
    return Authored(
        service=edit.located.service,
        file=edit.located.relative,
        summary=edit.summary,
        diff=diff,
        message=edit.message,
        commit=commit,
        pushed=pushed,
    )
