"""The values the operator commands work with: a service's document, an edit of it, a commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from reconciler.desired import yamlload


@dataclass(frozen=True, slots=True)
class Image:
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def from_data(cls, data: Any) -> Image | None:
        if not isinstance(data, dict) or not isinstance(data.get("repository"), str):
            return None
        tag, digest = data.get("tag"), data.get("digest")
        return cls(
            repository=data["repository"],
            tag=str(tag) if tag is not None else None,
            digest=str(digest) if digest is not None else None,
        )

    def fields(self) -> dict[str, str]:
        found = {"repository": self.repository, "tag": self.tag, "digest": self.digest}
        return {k: v for k, v in found.items() if v is not None}

    def short(self) -> str:
        """The part that tells two images of one repository apart, for a commit subject."""
        if self.tag is not None:
            return self.tag + (f"@{self.digest[:19]}" if self.digest else "")
        return self.digest[:19] if self.digest else self.repository

    def __str__(self) -> str:
        text = self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True, slots=True)
class Located:
    """A service's document in one desired file of the work tree."""

    service: str
    file: Path  # absolute
    relative: PurePosixPath  # inside the repository, as git names it
    document: yamlload.Document
    image: Image | None
    paused: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Authoring:
    """What rollback and pause share: which service in which checkout, and how to commit."""

    repo: Path  # a work tree of the desired repository
    service: str
    path: str = "desired"  # the desired files, inside the repository
    reason: str | None = None  # for the commit message
    push: bool = False  # push the commit to the branch's remote
    dry_run: bool = False  # show the change, commit nothing
    say: Callable[[str], None] = print  # where the operator is told what happens
    # Asked with the change shown, before the commit: False cancels it. None commits unasked
    # (the status page, whose token is the consent).
    confirm: Callable[[str], bool] | None = None


@dataclass(frozen=True, slots=True)
class Edit:
    """What one command changes in which desired file, and how the change is told and recorded."""

    located: Located  # the service's document, in its file
    change: Callable[[str], str]  # the file's text → the file's text after the change
    summary: str  # one line: "feedback: image a:v2.0 → a:v1.1"
    notes: tuple[str, ...]  # told the operator before the change is made
    message: str  # the commit message


@dataclass(frozen=True, slots=True)
class Authored:
    """What a command committed (or, with ``dry_run``, would commit)."""

    service: str
    file: PurePosixPath
    summary: str
    diff: str  # git diff of the change
    message: str  # the commit message
    commit: str | None  # None for a dry run
    pushed: bool = False
