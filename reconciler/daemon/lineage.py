"""What git knows about two revisions, for the writer check (``pipeline.writers``): when a
commit was made, and whether one descends from another. Any failure is "cannot tell" (None):
the check then falls back on what the writer tag recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler import errors
from reconciler.daemon.git import Git

GIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Lineage:
    """git questions about revisions, asked of one repository (None: no repository)."""

    git: Git | None

    @classmethod
    def of_work_tree(cls, paths: Sequence[str | Path]) -> Lineage:
        first = Path(paths[0]).resolve() if paths else Path.cwd()
        directory = first if first.is_dir() else first.parent
        return cls(Git.work_tree(directory, timeout=GIT_TIMEOUT, trusted=True))

    def committed(self, revision: str | None) -> int | None:
        """The commit's committer time, epoch seconds."""
        text = (
            self._text("log", "-1", "--format=%ct", f"{revision}^{{commit}}", "--")
            if (revision and self._is_commit_name(revision))
            else None
        )
        return int(text) if text and text.isdigit() else None

    def descends_from(self, mine: str | None) -> Callable[[str], bool | None]:
        """``other`` → whether ``other`` has ``mine`` in its history, as this repository knows."""

        def descends(other: str) -> bool | None:
            if not mine or not self._is_commit_name(mine) or not self._is_commit_name(other):
                return None
            full = self._text("rev-parse", "--verify", "--quiet", f"{other}^{{commit}}")
            if (
                not full
                or self._text("rev-parse", "--verify", "--quiet", f"{mine}^{{commit}}") is None
            ):
                return None
            if full.startswith(mine) or mine.startswith(full):
                return False
            return self._ok("merge-base", "--is-ancestor", mine, full)

        return descends

    @staticmethod
    def _is_commit_name(revision: str) -> bool:
        return 4 <= len(revision) <= 40 and all(c in "0123456789abcdef" for c in revision)

    def _text(self, *args: str) -> str | None:
        if self.git is None:
            return None
        try:
            done = self.git.run(*args, check=False)
        except errors.GitError:
            return None
        return done.text.strip() if done.ok else None

    def _ok(self, *args: str) -> bool | None:
        if self.git is None:
            return None
        try:
            return self.git.run(*args, check=False).ok
        except errors.GitError:
            return None
