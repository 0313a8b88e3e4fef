"""Author, date and subject of the commits the history names, read from git once each.

The daemon's revisions are git commits (abbreviated to 12 characters in the launch template
version's description). For a local repository git is asked there; for a remote one the
daemon's cache is asked, which is shallow: commits older than its history are shown by hash
alone. Lookups run on the HTTP thread when the page asks, never on the tick's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from reconciler import errors
from reconciler.daemon.git import Git, local_path
from reconciler.daemon.source import GitSource, Source
from reconciler.daemon.web.history import Commit

_FIELDS = "%H%x1f%an%x1f%aI%x1f%s%x1f%b"
_LOOKUP_TIMEOUT = 5.0  # seconds: the page waits for this, so a slow git shows no author instead
_CACHE_LIMIT = 4096


class CommitLog:
    """Commit details by (abbreviated) hash, remembered: a commit never changes."""

    def __init__(self, git: Git | None) -> None:
        self._git = git
        self._known: dict[str, Commit | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, source: Source) -> CommitLog:
        """Where the daemon's source can tell about its commits; a plain directory cannot."""
        if not isinstance(source, GitSource):
            return cls(None)
        local = local_path(source.settings.repo)
        if local is not None and Path(local).exists():
            return cls(Git.work_tree(Path(local), timeout=_LOOKUP_TIMEOUT, trusted=True))
        return cls(Git.bare(source.cache, timeout=_LOOKUP_TIMEOUT))

    def lookup(self, revisions: Iterable[str]) -> dict[str, Commit]:
        found: dict[str, Commit] = {}
        for revision in revisions:
            commit = self._one(revision)
            if commit is not None:
                found[revision] = commit
        return found

    def _one(self, revision: str) -> Commit | None:
        if self._git is None or not revision or not _is_hash(revision):
            return None
        with self._lock:
            if revision in self._known:
                return self._known[revision]
        commit = self._read(revision)
        with self._lock:
            if len(self._known) >= _CACHE_LIMIT:
                self._known.clear()
            self._known[revision] = commit
        return commit

    def _read(self, revision: str) -> Commit | None:
        assert self._git is not None
        try:
            done = self._git.run(
                "log", "-1", f"--format={_FIELDS}", f"{revision}^{{commit}}", "--", check=False
            )
        except errors.GitError:
            return None
        parts = done.text.rstrip("\n").split("\x1f") if done.ok else []
        if len(parts) != 5:
            return None
        sha, author, date, subject, body = parts
        return Commit(sha=sha, author=author, date=date, subject=subject, body=body.strip())


def _is_hash(text: str) -> bool:
    """Only hashes reach git: a revision is never read as an option or a range."""
    return 7 <= len(text) <= 40 and all(c in "0123456789abcdef" for c in text)
