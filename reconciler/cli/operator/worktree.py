"""git in the operator's checkout of the desired repository, through the one git runner."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from reconciler import errors
from reconciler.daemon.git import Git

GIT_TIMEOUT = 60.0  # seconds for one call; a push to a slow remote fits, a hung one does not


class WorkTree:
    """The work tree ``repo`` is in: git errors as ``errors.OperatorError``."""

    def __init__(self, repo: Path) -> None:
        # terminal: an operator runs these commands, and ssh may need to ask them (host key,
        # passphrase) for --push; git itself still never prompts.
        self._git = Git.work_tree(repo, timeout=GIT_TIMEOUT, terminal=True)
        top = self.run("rev-parse", "--show-toplevel", check=False)
        if not top:
            raise errors.OperatorError(f"{repo} is not inside a git work tree (--repo)")
        self.root = Path(top)

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None, strip: bool = True
    ) -> str:
        """git's output; with ``check=False``, "" when git fails."""
        try:
            done = self._git.run(*args, check=check, stdin=stdin)
        except errors.GitError as exc:
            raise errors.OperatorError(str(exc)) from None
        if not done.ok:
            return ""
        return done.text.strip() if strip else done.text

    def require_clean(self) -> None:
        # Not stripped: each line is "XY PATH", and X is a space for a change not yet staged.
        status = self.run("status", "--porcelain", "--untracked-files=no", strip=False)
        if status.strip():
            changed = ", ".join(line[3:] for line in status.splitlines()[:5] if line.strip())
            raise errors.OperatorError(
                f"the work tree has uncommitted changes ({changed}): commit or stash them first"
            )

    def commit_of(self, revision: str) -> str:
        commit = self.run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
        if not commit:
            raise errors.OperatorError(f"no commit {revision!r} in {self.root}")
        return commit

    def subject(self, revision: str) -> str:
        return self.run("log", "-1", "--format=%s", revision)

    def commit(self, file: PurePosixPath, message: str) -> None:
        """Commit ``file`` alone, whatever else is staged."""
        self.run("add", "--", str(file))
        self.run("commit", "--quiet", "--file", "-", "--", str(file), stdin=message)

    def unstage(self, file: PurePosixPath) -> None:
        """Take ``file`` out of the index again, after a commit that failed or was interrupted."""
        if self.run("diff", "--cached", "--name-only", check=False):
            self.run("reset", "--quiet", "--", str(file), check=False)

    def push(self) -> tuple[str, str]:
        branch = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if not branch:
            raise errors.OperatorError("HEAD is detached: check out the branch to push to")
        remote = self.run("config", f"branch.{branch}.remote", check=False) or "origin"
        self.run("push", "--quiet", remote, f"HEAD:refs/heads/{branch}")
        return remote, branch
