"""Which files are desired files, and reading them safely.

``files_in`` is THE rule for a directory's desired files: ``*.yaml`` and ``*.yml`` directly in it,
in any case (``*.YAML`` too), hidden ones skipped, sorted by path. Desired files further down, in
subdirectories, are not read, and never skipped silently: each one is a warning naming it
(``nested_files``). Everything that lists a directory of desired files (the
loader, the operator's edits) goes through it, so they always agree on what a directory holds.

``sources`` turns the paths a user names into the files to read, and reports the ones that
cannot be: missing, symlink loops, symlinks out of the reviewed directory. ``read_limited``
reads one file with a size bound, for desired files and their UserData templates alike.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.desired.yamlload import FILE_FIELD
from reconciler.model import Problem

SUFFIXES = (".yaml", ".yml")


def files_in(directory: Path) -> list[Path]:
    """The desired files directly in ``directory``, in the order they are read.

    Entries are named, not checked: one may be a dangling symlink or a directory called
    ``x.yaml``. Raises ``OSError`` when the directory cannot be listed.
    """
    return sorted(entry for entry in directory.iterdir() if _desired_name(entry.name))


def _desired_name(name: str) -> bool:
    return Path(name).suffix.lower() in SUFFIXES and not name.startswith(".")


def nested_files(directory: Path) -> list[Path]:
    """The desired-looking files in ``directory``'s subdirectories (hidden ones and symlinked
    directories not entered), which ``files_in`` does not name: for the warning about each."""
    found: list[Path] = []
    for here, dirs, names in os.walk(directory, onerror=lambda _: None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if Path(here) != directory:
            found += (Path(here) / n for n in sorted(names) if _desired_name(n))
    return found


@dataclass(frozen=True, slots=True)
class Source:
    file: str  # as the user wrote it (or the directory joined with the name): for messages
    path: Path


def resolve(path: Path) -> Path | None:
    """``path`` with symlinks resolved; None for a symlink loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):  # 3.11: RuntimeError for a loop; NUL: ValueError
        return None


def sources(paths: Sequence[str | Path], problems: list[Problem]) -> list[Source]:
    """The files to read, in order, each once."""
    found: list[Source] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        named = _directory_files(path, problems) if path.is_dir() else _single_file(path, problems)
        for source in named:
            key = resolve(source.path) or source.path
            if key not in seen:
                seen.add(key)
                found.append(source)
    return found


def _single_file(path: Path, problems: list[Problem]) -> list[Source]:
    if not path.exists():
        message = "does not exist" if not path.is_symlink() else "is a symlink to nothing"
        problems.append(Problem(str(path), 0, FILE_FIELD, message))
        return []
    return [Source(str(path), path)]


def _directory_files(directory: Path, problems: list[Problem]) -> list[Source]:
    """The readable desired files in ``directory``; a problem for each one that is not."""
    try:
        entries = files_in(directory)
    except OSError as error:
        message = f"cannot be listed: {error.strerror or error}"
        problems.append(Problem(str(directory), 0, FILE_FIELD, message))
        return []
    problems += (_nested_warning(path, directory) for path in nested_files(directory))
    if not entries:
        message = "holds no *.yaml or *.yml files"
        problems.append(Problem(str(directory), 0, FILE_FIELD, message))
    root = resolve(directory) or directory
    found = []
    for entry in entries:
        problem = _entry_problem(entry, directory=directory, root=root)
        if problem is not None:
            problems.append(problem)
        elif entry.is_file():
            found.append(Source(str(entry), entry))
    return found


def _nested_warning(path: Path, directory: Path) -> Problem:
    message = f"is in a subdirectory of {directory}, so it is not read"
    allowed = f"desired files directly in {directory}, or name {path.parent} as a path too"
    return Problem(str(path), 0, FILE_FIELD, message, allowed, warning=True)


def _entry_problem(entry: Path, *, directory: Path, root: Path) -> Problem | None:
    """Why a listed entry cannot be read, if it cannot; None for a file or a subdirectory.

    A symlink may point elsewhere inside the directory, never outside it: the directory is what
    was reviewed, so a link out of it would load files nobody reviewed.
    """
    target = resolve(entry)
    if target is None:
        return Problem(str(entry), 0, FILE_FIELD, "is a symlink loop")
    if not target.is_relative_to(root):
        message = f"is a symlink to {target}, outside the directory {directory}"
        return Problem(str(entry), 0, FILE_FIELD, message, f"files in {directory}")
    if not entry.exists():
        return Problem(str(entry), 0, FILE_FIELD, "is a symlink to nothing")
    return None


class ReadError(Exception):
    """A file cannot be read; the message completes "<file> ...", ``allowed`` says what may be."""

    def __init__(self, message: str, *, allowed: str = "") -> None:
        super().__init__(message)
        self.allowed = allowed


def read_limited(path: Path, *, limit: int) -> bytes:
    """A regular file's bytes, refusing more than ``limit`` (checked before and while reading)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ReadError("is not a regular file")
        if info.st_size > limit:
            message = f"is {info.st_size} bytes; the limit is {limit} bytes"
            raise ReadError(message, allowed=f"at most {limit} bytes")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError as error:
        raise ReadError("does not exist") from error
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise ReadError(f"cannot be read: {getattr(error, 'strerror', None) or error}") from error
    if len(data) > limit:
        raise ReadError(f"is more than {limit} bytes", allowed=f"at most {limit} bytes")
    return data
