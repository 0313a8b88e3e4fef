"""Where desired state comes from, and which revision it is.

``revision_of(paths)`` answers for files on disk (the CLI's one-shot commands): the git commit when
the files are in a clean git work tree, the commit with a ``-dirty`` suffix when they have
uncommitted changes, and a content hash outside git.

The daemon reads desired state through a ``Source``:

- ``GitSource`` fetches one branch of a remote with the git CLI into a bare cache repository
  (shallow), optionally checks the commit's SSH signature, and materialises the desired path *at
  that commit* in a temporary directory, so what is loaded is exactly what was committed.
- ``LocalSource`` reads a plain directory; its revision is a content hash.

Credentials come from git's usual means (SSH keys, credential helpers, ``GIT_SSH_COMMAND``). git
runs through ``reconciler.daemon.git``, so it never prompts, every call has a timeout, a URL's
``user:password@`` part is never logged or raised, and a checkout is unpacked only when it stays
in its directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Protocol

import structlog

from reconciler import errors
from reconciler.daemon.git import (
    GIT_TIMEOUT,
    Git,
    Output,
    extract,
    redact,
    trusted_upload_pack,
)
from reconciler.model import Problem

log = structlog.get_logger("reconciler.daemon.source")

MAX_ARCHIVE_BYTES = 32 * 1024 * 1024  # the desired path at one commit; the loader caps each file
HISTORY_LIMIT = 256  # commits fetched at most to tell a fast-forward from a rewrite
_DEEPEN_STEP = 32
_TRACKING = "refs/remotes/origin/{branch}"
_LAST = "refs/reconciler/last"  # the previous fetch's commit: kept so ancestry can be checked
_DEEPEN = "refs/reconciler/deepen"
_SIGNING_KEY = re.compile(r"key (SHA256:[A-Za-z0-9+/=]+)")


# ------------------------------------------------------------------------------------------------
# Revisions of files on disk (the one-shot commands)
# ------------------------------------------------------------------------------------------------


def revision_of(paths: Sequence[str | Path]) -> str:
    """The revision of the desired files at ``paths``."""
    resolved = [Path(p).resolve() for p in paths]
    commit = _git_commit(resolved)
    return commit if commit is not None else content_hash(resolved)


def _git_commit(paths: Sequence[Path]) -> str | None:
    first = paths[0] if paths[0].is_dir() else paths[0].parent
    head = _git(first, "rev-parse", "HEAD")
    if head is None:
        return None
    status = _git(first, "status", "--porcelain", "--", *(str(p) for p in paths))
    return f"{head}-dirty" if status else head


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = Git.work_tree(cwd, timeout=10, trusted=True).run(*args, check=False)
    except errors.GitError:
        return None
    return done.text.strip() if done.ok else None


def content_hash(paths: Sequence[Path]) -> str:
    """sha256 over the desired files' names and bytes, for desired state outside git."""
    digest = hashlib.sha256()
    for file in sorted(_files(paths)):
        digest.update(str(file.name).encode() + b"\0" + file.read_bytes() + b"\0")
    return "sha256-" + digest.hexdigest()[:40]


def _files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
    return files


def is_git_repository(path: Path) -> bool:
    """True when ``path`` is inside a git work tree or is a (bare) git repository."""
    return _git(path, "rev-parse", "--git-dir") is not None


# ------------------------------------------------------------------------------------------------
# Sources for the daemon
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    revision: str
    previous: str | None = None  # the commit the last fetch returned, if any
    rewritten: bool = False  # ``revision`` does not descend from ``previous`` (force-push)


@dataclass(frozen=True, slots=True)
class Checkout:
    """The desired files of one revision, readable on disk while the checkout is open."""

    revision: str
    paths: tuple[Path, ...]
    root: Path  # what problem locations are shown relative to

    def relocate(self, problems: Sequence[Problem]) -> tuple[Problem, ...]:
        """Problems with file names relative to the repository, not the temporary directory."""
        return tuple(replace(p, file=self.display(p.file)) for p in problems)

    def display(self, file: str) -> str:
        prefix = f"{self.root}{os.sep}"
        return file[len(prefix) :] if file.startswith(prefix) else file


class Source(Protocol):
    @property
    def description(self) -> str:
        """Where the desired state comes from, safe to log."""
        ...

    def fetch(self) -> Fetched: ...

    def verify(self, revision: str) -> None:
        """Raise ``errors.UnverifiedCommit`` when ``revision`` must not be applied."""
        ...

    def checkout(self, revision: str) -> AbstractContextManager[Checkout]: ...


class LocalSource:
    """A plain directory (or files) with no git: the revision is a hash of the content."""

    def __init__(self, *, paths: Sequence[Path]) -> None:
        self.paths = tuple(p.resolve() for p in paths)

    @property
    def description(self) -> str:
        return ", ".join(str(p) for p in self.paths)

    def fetch(self) -> Fetched:
        missing = [p for p in self.paths if not p.exists()]
        if missing:
            raise errors.FetchError(f"desired path {missing[0]} does not exist", delay=5.0)
        return Fetched(revision=content_hash(self.paths))

    def verify(self, revision: str) -> None:
        """Plain files carry no signature; ``--verify-commits`` needs a git source."""

    @contextmanager
    def checkout(self, revision: str) -> Iterator[Checkout]:
        root = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in self.paths]))
        yield Checkout(revision=revision, paths=self.paths, root=root)


@dataclass(frozen=True, kw_only=True)
class GitSettings:
    repo: str  # URL or local path, as git accepts it
    cache_dir: Path  # holds one bare repository per (repo, branch)
    branch: str = "main"
    path: str = "desired"  # inside the repository
    allowed_signers: Path | None = None  # set: only commits signed by these keys are accepted
    timeout: float = GIT_TIMEOUT
    history_limit: int = HISTORY_LIMIT


class GitSource:
    """One branch of a git remote, fetched shallow into a bare cache repository."""

    def __init__(self, settings: GitSettings) -> None:
        self.settings = settings
        self.path = check_repo_path(settings.path)
        self.cache = settings.cache_dir / cache_key(repo=settings.repo, branch=settings.branch)
        self._tracking = _TRACKING.format(branch=settings.branch)
        self._git = Git.bare(self.cache, timeout=settings.timeout)

    @property
    def description(self) -> str:
        return f"{redact(self.settings.repo)}#{self.settings.branch}:{self.path}"

    # -- fetch -------------------------------------------------------------------------------

    def fetch(self) -> Fetched:
        """Fetch the branch tip; tell whether it descends from the previous fetch's tip."""
        with self._locked():
            self._ensure_cache()
            self._fetch_ref(self._tracking, "--depth=1")
            revision = self._rev_parse(f"{self._tracking}^{{commit}}")
            previous = self._rev_parse_optional(f"{_LAST}^{{commit}}")
            rewritten = (
                previous is not None
                and previous != revision
                and not self._descends(ancestor=previous, revision=revision)
            )
            self._run("update-ref", _LAST, revision)
        return Fetched(revision=revision, previous=previous, rewritten=rewritten)

    def _fetch_ref(self, ref: str, *options: str) -> None:
        refspec = f"+refs/heads/{self.settings.branch}:{ref}"
        self._run(
            "fetch",
            *trusted_upload_pack(self.settings.repo),
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            *options,
            self.settings.repo,
            refspec,
        )

    def _descends(self, *, ancestor: str, revision: str) -> bool:
        """Whether ``revision`` has ``ancestor`` in its history.

        The cache is shallow, so an answer of "no" may only mean "not fetched yet": deepen the
        history in steps until the ancestor shows up, the history is complete, or
        ``history_limit`` commits are local. Beyond that limit, a commit is taken as rewritten.
        """
        fetched = self._count(revision)
        while not self._is_ancestor(ancestor, revision):
            room = self.settings.history_limit - fetched
            if room <= 0:
                return False
            self._fetch_ref(_DEEPEN, f"--deepen={min(_DEEPEN_STEP, room)}")
            more = self._count(revision)
            if more <= fetched:  # nothing older on the remote: the whole history is here
                return False
            fetched = more
        return True

    def _is_ancestor(self, ancestor: str, revision: str) -> bool:
        done = self._run("merge-base", "--is-ancestor", ancestor, revision, check=False)
        return done.returncode == 0

    def _count(self, revision: str) -> int:
        return int(self._run("rev-list", "--count", revision).text.strip() or 0)

    # -- verify ------------------------------------------------------------------------------

    def verify(self, revision: str) -> None:
        signers = self.settings.allowed_signers
        if signers is None:
            return
        done = self._run(
            "-c",
            f"gpg.ssh.allowedSignersFile={signers.resolve()}",
            "verify-commit",
            revision,
            check=False,
        )
        if done.returncode != 0:
            raise errors.UnverifiedCommit(
                revision=revision, reason=_signature_failure(done.stderr), allowed_signers=signers
            )

    # -- checkout ----------------------------------------------------------------------------

    @contextmanager
    def checkout(self, revision: str) -> Iterator[Checkout]:
        """The desired path at ``revision`` in a temporary directory, removed afterwards."""
        self._require_path(revision)
        parent = self.cache.parent / f"{self.cache.name}.checkouts"
        parent.mkdir(exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=f"rev-{revision[:12]}-", dir=parent))
        try:
            extract(self._archive(revision), into=root)
            yield Checkout(revision=revision, paths=(root / self.path,), root=root)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _require_path(self, revision: str) -> None:
        listed = self._run("ls-tree", "--name-only", revision, "--", str(self.path)).text
        if not listed.strip():
            problem = Problem(
                file=str(self.path),
                line=0,
                field="(file)",
                message=f"does not exist in commit {revision[:12]}",
                allowed=f"a path in branch {self.settings.branch} of {redact(self.settings.repo)}",
            )
            raise errors.InvalidDesiredState([problem])

    def _archive(self, revision: str) -> bytes:
        """The desired path at ``revision``; for a file, its whole directory, because the
        UserData templates it names are files next to it (``desired.template``)."""
        kind = self._run("cat-file", "-t", f"{revision}:{self.path}", check=False).text.strip()
        tree = self.path.parent if kind == "blob" else self.path
        done = self._run("archive", "--format=tar", revision, "--", str(tree)).stdout
        if len(done) > MAX_ARCHIVE_BYTES:
            problem = Problem(
                str(self.path), 0, "(file)", "is too large", f"at most {MAX_ARCHIVE_BYTES} bytes"
            )
            raise errors.InvalidDesiredState([problem])
        return done

    # -- git ---------------------------------------------------------------------------------

    def _ensure_cache(self) -> None:
        if (self.cache / "HEAD").exists():
            return
        self.cache.mkdir(parents=True, exist_ok=True)
        self._run("init", "--quiet", "--bare")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One fetch at a time per cache, across processes sharing ``--cache-dir``."""
        self.cache.mkdir(parents=True, exist_ok=True)
        with (self.cache.parent / f"{self.cache.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _rev_parse(self, ref: str) -> str:
        return self._run("rev-parse", "--verify", "--quiet", ref).text.strip()

    def _rev_parse_optional(self, ref: str) -> str | None:
        done = self._run("rev-parse", "--verify", "--quiet", ref, check=False)
        return done.text.strip() or None

    def _run(self, *args: str, check: bool = True) -> Output:
        try:
            return self._git.run(*args, check=check)
        except errors.GitError as exc:
            raise errors.FetchError(str(exc), delay=5.0) from None


def _signature_failure(stderr: str) -> str:
    """verify-commit's verdict in one line: git prints nothing at all for an unsigned commit."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "the commit has no signature"
    key = _SIGNING_KEY.search(stderr)
    signed_by = f" (signed with {key.group(1)})" if key else ""
    return f"{lines[-1].rstrip('.')}{signed_by}"


def check_repo_path(path: str) -> PurePosixPath:
    """The desired path inside the repository: relative and staying inside it."""
    clean = PurePosixPath(path.strip() or ".")
    if clean.is_absolute() or ".." in clean.parts:
        raise errors.UsageError(f"--path {path!r} must be relative to the repository root")
    return clean


def cache_key(*, repo: str, branch: str) -> str:
    """A directory name per (remote, branch); credentials in the URL do not change it."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", redact(repo).rstrip("/").rsplit("/", 1)[-1])[:40]
    digest = hashlib.sha256(f"{redact(repo)}#{branch}".encode()).hexdigest()[:12]
    return f"{name.strip('-') or 'repo'}-{digest}"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "asg-reconciler" / "git"
