"""Where desired state comes from, and which revision it is.

A revision is the git commit when the desired files are in a clean git work tree, the commit with
a ``-dirty`` suffix when they have uncommitted changes, and a content hash outside git.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path


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
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


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
