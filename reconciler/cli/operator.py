"""Operator commands that author commits in a checkout of the desired repository.

``reconciler rollback SERVICE`` and ``reconciler pause SERVICE`` never touch AWS: they write the
change into the desired file as a commit (optionally pushed), and the daemon rolls it out like
any other commit. So a rollback is reviewed, recorded and reverted like a deploy.

- **rollback** finds the image the service had at an earlier revision (``previous``: the newest
  commit before HEAD in which the service's image differed from HEAD's; or any git revision),
  shows the change, rewrites only the image fields of the service's document in place (comments
  and formatting stay), checks the result validates, and commits with a message saying what was
  rolled back, from what, to what and why.
- **pause** sets ``spec.paused: true`` (``--resume`` removes it): the reconciler then still shows
  the diff but applies nothing for the service.

Both refuse a work tree with uncommitted changes, and edit only block-style YAML (``key: value``
lines); a document written in flow style is refused rather than re-dumped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from reconciler import desired, errors
from reconciler.desired import yamlload
from reconciler.desired.yamlload import FieldPath

PREVIOUS = "previous"
IMAGE_FIELDS = ("repository", "tag", "digest")
GIT_TIMEOUT = 60.0
_KEY_LINE = r"^(?P<indent>[ ]*)(?P<key>{key})(?P<colon>[ ]*:[ ]*)(?P<value>.*?)(?P<rest>[ ]+#.*)?$"


class OperatorError(errors.ReconcilerError):
    """The commit cannot be authored: dirty tree, unknown service, nothing to change, ..."""


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

    file: Path  # absolute
    relative: PurePosixPath  # inside the repository, as git names it
    document: yamlload.Document
    image: Image | None
    paused: bool


@dataclass(frozen=True, slots=True)
class Authored:
    """What a command committed (or, with ``dry_run``, would commit)."""

    service: str
    file: PurePosixPath
    summary: str  # one line: "feedback: image a:v2.0 → a:v1.1"
    diff: str  # git diff of the change
    message: str  # the commit message
    commit: str | None  # None for a dry run
    pushed: bool = False


# ------------------------------------------------------------------------------------------------
# The commands
# ------------------------------------------------------------------------------------------------


def rollback(
    *,
    repo: Path,
    service: str,
    path: str = "desired",
    to: str = PREVIOUS,
    reason: str | None = None,
    push: bool = False,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
) -> Authored:
    """Commit the image ``service`` had at ``to`` (a git revision, or ``previous``)."""
    git = Git(repo)
    git.require_clean()
    located = locate(repo=git.root, path=path, service=service)
    current = located.image
    if current is None:
        raise OperatorError(f"{service}: {located.relative} has no spec.image to roll back")
    if to == PREVIOUS:
        revision, target = previous_image(git, located=located, service=service)
    else:
        revision = git.commit_of(to)
        found = image_at(git, revision=revision, file=located.relative, service=service)
        if found is None:
            raise OperatorError(
                f"{service}: not found in {located.relative} at {revision[:12]} ({to})"
            )
        target = found
    if target == current:
        raise OperatorError(
            f"{service}: the image at {revision[:12]} is the current one ({current}); "
            "nothing to roll back"
        )
    subject = git.subject(revision)
    summary = f"{service}: image {current} → {target}"
    say(f"rollback {summary}")
    say(f"  to the image of commit {revision[:12]} ({subject})")
    text = located.file.read_text(encoding="utf-8")
    updated = set_image(text, document=located.document, old=current, new=target)
    why = reason.strip() if reason and reason.strip() else "no reason given (--reason)"
    message = (
        f"rollback {service}: {_short(current)} → {_short(target)}\n\n"
        f"Roll back the image of service {service} ({located.relative})\n"
        f"from {current}\n"
        f"to   {target},\n"
        f"the image it had at commit {revision[:12]} ({subject}).\n\n"
        f"Reason: {why}\n\n"
        f"Rollback-Service: {service}\n"
        f"Rollback-From: {current}\n"
        f"Rollback-To: {target}\n"
        f"Rollback-Source-Commit: {revision}\n"
    )
    return _author(
        git,
        located=located,
        path=path,
        text=updated,
        summary=summary,
        message=message,
        push=push,
        dry_run=dry_run,
        say=say,
    )


def pause(
    *,
    repo: Path,
    service: str,
    path: str = "desired",
    resume: bool = False,
    reason: str | None = None,
    push: bool = False,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
) -> Authored:
    """Commit ``spec.paused: true`` for ``service`` (``resume``: remove it)."""
    git = Git(repo)
    git.require_clean()
    located = locate(repo=git.root, path=path, service=service)
    if located.paused != resume:
        state = "paused" if located.paused else "not paused"
        raise OperatorError(f"{service}: already {state} in {located.relative}")
    text = located.file.read_text(encoding="utf-8")
    updated = set_paused(text, document=located.document, paused=not resume)
    verb = "resume" if resume else "pause"
    summary = f"{service}: spec.paused {'true → (removed)' if resume else '(unset) → true'}"
    say(f"{verb} {summary}")
    why = reason.strip() if reason and reason.strip() else "no reason given (--reason)"
    effect = (
        "The reconciler applies changes to it again."
        if resume
        else "The reconciler keeps showing its diff but applies nothing to it until resumed."
    )
    message = (
        f"{verb} {service}\n\n"
        f"{'Remove' if resume else 'Set'} spec.paused of service {service} ({located.relative}). "
        f"{effect}\n\n"
        f"Reason: {why}\n"
    )
    return _author(
        git,
        located=located,
        path=path,
        text=updated,
        summary=summary,
        message=message,
        push=push,
        dry_run=dry_run,
        say=say,
    )


def _author(
    git: Git,
    *,
    located: Located,
    path: str,
    text: str,
    summary: str,
    message: str,
    push: bool,
    dry_run: bool,
    say: Callable[[str], None],
) -> Authored:
    original = located.file.read_bytes()
    located.file.write_bytes(text.encode("utf-8"))
    try:
        _validate(git.root / path)
        diff = git.run("diff", "--", str(located.relative))
        say(diff)
        if dry_run:
            located.file.write_bytes(original)
            say("dry run: nothing committed")
            return Authored(
                service=_service_of(summary),
                file=located.relative,
                summary=summary,
                diff=diff,
                message=message,
                commit=None,
            )
        git.run("add", "--", str(located.relative))
        git.run("commit", "--quiet", "--file", "-", "--", str(located.relative), stdin=message)
    except BaseException:
        if git.run("diff", "--cached", "--name-only", check=False):
            git.run("reset", "--quiet", "--", str(located.relative), check=False)
        located.file.write_bytes(original)
        raise
    commit = git.run("rev-parse", "HEAD")
    say(f"committed {commit[:12]}: {message.splitlines()[0]}")
    pushed = False
    if push:
        remote, branch = git.push()
        say(f"pushed to {remote} {branch}")
        pushed = True
    return Authored(
        service=_service_of(summary),
        file=located.relative,
        summary=summary,
        diff=diff,
        message=message,
        commit=commit,
        pushed=pushed,
    )


def _service_of(summary: str) -> str:
    return summary.split(":", 1)[0]


def _validate(path: Path) -> None:
    """The edited desired state must load, or nothing is committed."""
    try:
        desired.load([path])
    except errors.InvalidDesiredState as exc:
        raise OperatorError(f"the change would not validate: {exc}") from None


def _short(image: Image) -> str:
    if image.tag is not None:
        return image.tag + (f"@{image.digest[:19]}" if image.digest else "")
    return image.digest[:19] if image.digest else image.repository


# ------------------------------------------------------------------------------------------------
# Finding the service and its history
# ------------------------------------------------------------------------------------------------


def locate(*, repo: Path, path: str, service: str) -> Located:
    """The document of ``service`` among the desired files at ``path`` in the work tree."""
    base = repo / path
    if base.is_dir():
        files = sorted(
            p
            for p in base.iterdir()
            if p.suffix in desired.SUFFIXES and not p.name.startswith(".") and p.is_file()
        )
    elif base.is_file():
        files = [base]
    else:
        raise OperatorError(f"desired path {path!r} does not exist in {repo}")
    found: list[Located] = []
    names: list[str] = []
    for file in files:
        relative = PurePosixPath(file.resolve().relative_to(repo.resolve()).as_posix())
        for document in _documents(file.read_text(encoding="utf-8"), file=str(relative)):
            name = _name(document.data)
            names.append(name or "?")
            if name == service:
                spec = document.data.get("spec") if isinstance(document.data, dict) else None
                spec = spec if isinstance(spec, dict) else {}
                found.append(
                    Located(
                        file=file,
                        relative=relative,
                        document=document,
                        image=Image.from_data(spec.get("image")),
                        paused=spec.get("paused") is True,
                    )
                )
    if not found:
        known = ", ".join(sorted(set(names))) or "none"
        raise OperatorError(f"no service {service!r} in {path} (found: {known})")
    if len(found) > 1:
        places = ", ".join(str(f.relative) for f in found)
        raise OperatorError(f"service {service!r} is declared more than once: {places}")
    return found[0]


def _documents(text: str, *, file: str) -> tuple[yamlload.Document, ...]:
    parsed = yamlload.parse(text, file=file)
    if parsed.problems:
        raise OperatorError(f"cannot read {file}: {parsed.problems[0]}")
    return parsed.documents


def _name(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        return None
    name = data["metadata"].get("name")
    return name if isinstance(name, str) else None


def image_at(git: Git, *, revision: str, file: PurePosixPath, service: str) -> Image | None:
    """The image ``service`` had in ``file`` at ``revision``; None if it was not there."""
    text = git.run("show", f"{revision}:{file}", check=False, strip=False)
    if not text:
        return None
    try:
        documents = _documents(text, file=f"{revision[:12]}:{file}")
    except OperatorError:
        return None  # a broken file in the history is no rollback target
    for document in documents:
        if _name(document.data) == service:
            spec = document.data.get("spec")
            return Image.from_data(spec.get("image")) if isinstance(spec, dict) else None
    return None


def previous_image(git: Git, *, located: Located, service: str) -> tuple[str, Image]:
    """The newest commit before HEAD whose image of ``service`` differs from the current one."""
    current = located.image
    commits = git.run("log", "--format=%H", "HEAD", "--", str(located.relative)).split()
    head = git.commit_of("HEAD")
    for revision in commits:
        if revision == head:
            continue
        image = image_at(git, revision=revision, file=located.relative, service=service)
        if image is not None and image != current:
            return revision, image
    raise OperatorError(
        f"{service}: no earlier commit of {located.relative} has an image other than {current}"
    )


# ------------------------------------------------------------------------------------------------
# Editing the YAML text in place
# ------------------------------------------------------------------------------------------------


def set_image(text: str, *, document: yamlload.Document, old: Image, new: Image) -> str:
    """``text`` with only the image fields of ``document`` changed from ``old`` to ``new``."""
    lines = text.splitlines(keepends=True)
    before, after = old.fields(), new.fields()
    image_path: FieldPath = ("spec", "image")
    edits: dict[int, str | None] = {}  # 0-based line → new line, None deletes it
    present = {
        key: document.lines[(*image_path, key)]
        for key in IMAGE_FIELDS
        if (*image_path, key) in document.lines
    }
    if not present:
        raise OperatorError("spec.image has no field on a line of its own (flow style?)")
    for key in IMAGE_FIELDS:
        if key in present and key in after:
            if before.get(key) != after[key]:
                edits[present[key] - 1] = _replace_value(lines[present[key] - 1], key, after[key])
        elif key in present:
            _match(lines[present[key] - 1], key)  # refuse flow style before deleting
            edits[present[key] - 1] = None
    additions = [key for key in IMAGE_FIELDS if key in after and key not in present]
    last = max(present.values()) - 1
    indent = _match(lines[last], _key_of(present, last + 1)).group("indent")
    new_lines: list[str] = []
    for index, line in enumerate(lines):
        if index in edits:
            replaced = edits[index]
            if replaced is not None:
                new_lines.append(replaced)
        else:
            new_lines.append(line)
        if index == last:
            if not new_lines[-1].endswith(("\n", "\r")):
                new_lines[-1] += _newline(lines)
            new_lines += [
                f"{indent}{key}: {_scalar(after[key])}{_newline(lines)}" for key in additions
            ]
    return "".join(new_lines)


def set_paused(text: str, *, document: yamlload.Document, paused: bool) -> str:
    """``text`` with ``spec.paused: true`` set (``paused``) or its line removed."""
    lines = text.splitlines(keepends=True)
    existing = document.lines.get(("spec", "paused"))
    if not paused:
        if existing is None:
            return text
        _match(lines[existing - 1], "paused")
        return "".join(line for index, line in enumerate(lines) if index != existing - 1)
    if existing is not None:
        return "".join(
            _replace_value(line, "paused", "true") if index == existing - 1 else line
            for index, line in enumerate(lines)
        )
    spec_line = document.lines.get(("spec",))
    children = [line for p, line in document.lines.items() if len(p) == 2 and p[0] == "spec"]
    if spec_line is None or not children:
        raise OperatorError("the document has no block-style spec mapping to add paused to")
    first = min(children)
    child = next(p[1] for p, line in document.lines.items() if len(p) == 2 and line == first)
    indent = _match(lines[first - 1], str(child)).group("indent")
    if not re.match(r"^[ ]*spec[ ]*:[ ]*(#.*)?$", lines[spec_line - 1].rstrip("\r\n")):
        raise OperatorError("spec is not a block-style mapping; edit the file by hand")
    insert = f"{indent}paused: true{_newline(lines)}"
    return "".join([*lines[:spec_line], insert, *lines[spec_line:]])


def _key_of(present: dict[str, int], line: int) -> str:
    return next(key for key, at in present.items() if at == line)


def _match(line: str, key: str) -> re.Match[str]:
    body = line.rstrip("\r\n")
    match = re.match(_KEY_LINE.format(key=re.escape(key)), body)
    if match is None or not match.group("value") or match.group("value")[0] in "{[|>&*!":
        raise OperatorError(
            f"cannot edit {key!r} in place: {body.strip()!r} is not a plain 'key: value' line"
        )
    return match


def _replace_value(line: str, key: str, value: str) -> str:
    match = _match(line, key)
    ending = line[len(line.rstrip("\r\n")) :]
    old_value = match.group("value")
    new_value = _scalar(value)
    rest = match.group("rest") or ""
    if rest:  # keep a trailing comment where it was, as far as the new value allows
        pad = len(old_value) + len(rest) - len(rest.lstrip(" ")) - len(new_value)
        rest = " " * max(1, pad) + rest.lstrip(" ")
    return f"{match.group('indent')}{key}{match.group('colon')}{new_value}{rest}{ending}"


def _scalar(value: str) -> str:
    """``value`` as a YAML scalar that reads back as the same string: plain when it can be."""
    if value and re.fullmatch(r"[A-Za-z0-9_./@:+-]+", value) and not value.endswith(":"):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)


def _newline(lines: Sequence[str]) -> str:
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


# ------------------------------------------------------------------------------------------------
# git
# ------------------------------------------------------------------------------------------------


class Git:
    """The git CLI in a work tree: no prompts, errors as ``OperatorError``."""

    def __init__(self, repo: Path) -> None:
        self.cwd = repo
        top = self.run("rev-parse", "--show-toplevel", check=False)
        if not top:
            raise OperatorError(f"{repo} is not inside a git work tree (--repo)")
        self.root = Path(top)

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None, strip: bool = True
    ) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.cwd), *args],
                input=stdin,
                capture_output=True,
                text=True,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OperatorError(f"git {args[0]}: {exc}") from None
        if done.returncode != 0:
            if check:
                message = done.stderr.strip().splitlines()
                raise OperatorError(f"git {args[0]} failed: {message[-1] if message else ''}")
            return ""
        return done.stdout.strip() if strip else done.stdout

    def require_clean(self) -> None:
        status = self.run("status", "--porcelain", "--untracked-files=no")
        if status:
            changed = ", ".join(line[3:] for line in status.splitlines()[:5])
            raise OperatorError(
                f"the work tree has uncommitted changes ({changed}): commit or stash them first"
            )

    def commit_of(self, revision: str) -> str:
        commit = self.run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
        if not commit:
            raise OperatorError(f"no commit {revision!r} in {self.root}")
        return commit

    def subject(self, revision: str) -> str:
        return self.run("log", "-1", "--format=%s", revision)

    def push(self) -> tuple[str, str]:
        branch = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if not branch:
            raise OperatorError("HEAD is detached: check out the branch to push to")
        remote = self.run("config", f"branch.{branch}.remote", check=False) or "origin"
        self.run("push", "--quiet", remote, f"HEAD:refs/heads/{branch}")
        return remote, branch
