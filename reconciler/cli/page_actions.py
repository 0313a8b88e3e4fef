"""The status page's actions, authored by the operator commands (``reconciler pause|rollback``).

The daemon layer cannot reach the command line's operator code, so ``reconciler run`` hands it
this actor. The commit is made in a checkout of the desired repository: the repository itself
when ``--repo`` is a local work tree on ``--branch`` (as ``reconciler pause --repo .`` would),
otherwise a clone of its own in the cache directory, reset to the branch before each action and
pushed after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from reconciler import errors
from reconciler.cli import operator
from reconciler.daemon.git import Git, local_path
from reconciler.daemon.source import cache_key
from reconciler.daemon.web import Actor
from reconciler.daemon.web.actions import Acted

log = structlog.get_logger("reconciler.cli.page_actions")

GIT_TIMEOUT = 60.0
IDENTITY = ("asg-reconciler status page", "asg-reconciler@localhost")  # only if git has none


@dataclass(frozen=True)
class Checkout:
    """Where the page's commits are made, and whether they must be pushed."""

    root: Path
    push: bool
    prepare: Callable[[], None]  # brings the checkout to the branch's tip


def page_actor(
    *,
    repo: str,
    branch: str,
    path: str,
    cache_dir: Path,
    verdicts: operator.Verdicts | None = None,
) -> Actor:
    """``verdicts``: AWS's record of each revision, so the page's rollback, like the command's,
    goes back only to a revision that ran successfully."""
    checkout = checkout_for(repo=repo, branch=branch, cache_dir=cache_dir)

    def act(action: str, service: str, reason: str) -> Acted:
        checkout.prepare()
        how = operator.Authoring(
            repo=checkout.root,
            service=service,
            path=path,
            reason=reason,
            push=checkout.push,
            say=lambda text: log.debug("page_action", service=service, text=text),
        )
        if action == "rollback":
            done = operator.rollback(how, verdicts=verdicts)
        else:
            done = operator.pause(how, resume=action == "resume")
        return Acted(commit=done.commit, summary=done.summary)

    return act


def checkout_for(*, repo: str, branch: str, cache_dir: Path) -> Checkout:
    local = local_path(repo)
    if local is not None and _work_tree_on(Path(local), branch):
        return Checkout(root=Path(local), push=False, prepare=lambda: None)
    root = cache_dir / "page-actions" / cache_key(repo=repo, branch=branch)
    return Checkout(root=root, push=True, prepare=lambda: _clone_or_reset(repo, branch, root))


def _work_tree_on(path: Path, branch: str) -> bool:
    git = Git.work_tree(path, timeout=GIT_TIMEOUT, trusted=True)
    try:
        bare = git.text("rev-parse", "--is-bare-repository", check=False)
        current = git.text("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    except errors.GitError:
        return False
    return bare == "false" and current == branch


def _clone_or_reset(repo: str, branch: str, root: Path) -> None:
    """A clone of the branch, at its tip on the remote, with a committer identity."""
    try:
        if not (root / ".git").is_dir():
            root.parent.mkdir(parents=True, exist_ok=True)
            Git.work_tree(root.parent, timeout=GIT_TIMEOUT).run(
                "clone", "--quiet", "--branch", branch, "--", repo, str(root)
            )
        git = Git.work_tree(root, timeout=GIT_TIMEOUT)
        git.run("fetch", "--quiet", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
        git.run("checkout", "--quiet", "-B", branch, f"refs/remotes/origin/{branch}")
        git.run("reset", "--quiet", "--hard", f"refs/remotes/origin/{branch}")
        for key, value in zip(("user.name", "user.email"), IDENTITY, strict=True):
            if not git.text("config", key, check=False):
                git.run("config", key, value)
    except errors.GitError as exc:
        raise errors.OperatorError(f"cannot prepare a checkout of {branch}: {exc}") from None
