"""Finding a service's document among the desired files of the work tree, and its past images."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from reconciler import desired, errors
from reconciler.cli.operator.edit import Image, Located
from reconciler.cli.operator.targets import Candidate
from reconciler.cli.operator.worktree import WorkTree
from reconciler.desired import yamlload


def locate(*, repo: Path, path: str, service: str) -> Located:
    """The document of ``service`` among the desired files at ``path`` in the work tree."""
    base = repo / path
    if base.is_dir():
        files = [p for p in desired.files_in(base) if p.is_file()]
    elif base.is_file():
        files = [base]
    else:
        raise errors.OperatorError(f"desired path {path!r} does not exist in {repo}")
    found: list[Located] = []
    names: list[str] = []
    for file in files:
        relative = PurePosixPath(file.resolve().relative_to(repo.resolve()).as_posix())
        for document in _documents(file.read_text(encoding="utf-8"), file=str(relative)):
            name = _name(document.data)
            names.append(name or "?")
            if name == service:
                found.append(_located(service, file=file, relative=relative, document=document))
    if not found:
        known = ", ".join(sorted(set(names))) or "none"
        raise errors.OperatorError(f"no service {service!r} in {path} (found: {known})")
    if len(found) > 1:
        places = ", ".join(str(f.relative) for f in found)
        raise errors.OperatorError(f"service {service!r} is declared more than once: {places}")
    return found[0]


def _located(
    service: str, *, file: Path, relative: PurePosixPath, document: yamlload.Document
) -> Located:
    spec = document.data.get("spec") if isinstance(document.data, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    return Located(
        service=service,
        file=file,
        relative=relative,
        document=document,
        image=Image.from_data(spec.get("image")),
        paused=spec.get("paused") is True,
    )


def _documents(text: str, *, file: str) -> tuple[yamlload.Document, ...]:
    parsed = yamlload.parse(text, file=file)
    if parsed.problems:
        raise errors.OperatorError(f"cannot read {file}: {parsed.problems[0]}")
    return parsed.documents


def _name(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        return None
    name = data["metadata"].get("name")
    return name if isinstance(name, str) else None


def image_at(work: WorkTree, *, revision: str, file: PurePosixPath, service: str) -> Image | None:
    """The image ``service`` had in ``file`` at ``revision``; None if it was not there."""
    text = work.run("show", f"{revision}:{file}", check=False, strip=False)
    if not text:
        return None
    try:
        documents = _documents(text, file=f"{revision[:12]}:{file}")
    except errors.OperatorError:
        return None  # a broken file in the history is no rollback target
    for document in documents:
        if _name(document.data) == service:
            spec = document.data.get("spec")
            return Image.from_data(spec.get("image")) if isinstance(spec, dict) else None
    return None


def candidates(work: WorkTree, *, located: Located) -> list[Candidate]:
    """The commits of the service's file before HEAD, newest first, with its image at each."""
    commits = work.run("log", "--format=%H%x00%s", "HEAD", "--", str(located.relative))
    head = work.commit_of("HEAD")
    found: list[Candidate] = []
    for line in commits.splitlines():
        revision, _, subject = line.partition("\0")
        if revision == head:
            continue
        image = image_at(work, revision=revision, file=located.relative, service=located.service)
        if image is not None:
            found.append(Candidate(commit=revision, subject=subject, image=image))
    return found
