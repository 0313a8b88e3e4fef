"""The demo's git repository of desired state: made from the shipped files, changed by commits
and reverts as a user would, and read back as the daemon's source reads it."""

from __future__ import annotations

import shutil
from pathlib import Path

from reconciler import desired
from reconciler.daemon import source
from reconciler.daemon.git import Git
from reconciler.model import ServiceSpec

SEED_IMAGE = "ghcr.io/johnhuh619/simple-api"


def init_repo(
    repo: Path, *, template_dir: Path, image: str, tag: str, file: str = "desired.yaml"
) -> None:
    # The files beside ``file`` only: a subdirectory is not read, and would be warned about.
    shutil.copytree(template_dir, repo / "desired", ignore=_subdirectories)
    path = repo / "desired" / file
    lines = for_sandbox(path.read_text(), image).splitlines()
    text = "\n".join(_with_tag(line, tag) for line in lines) + "\n"
    path.write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"deploy {tag}")


def _subdirectories(directory: str, names: list[str]) -> list[str]:
    return [name for name in names if (Path(directory) / name).is_dir()]


def for_sandbox(text: str, image: str) -> str:
    """A shipped desired file pointed at the sandbox's ECR ``image``: the seed's image replaced
    and its GHCR pull credentials dropped (ECR needs none: the boot script logs in with the
    instance role)."""
    lines = text.replace(SEED_IMAGE, image).splitlines()
    return "\n".join(_without_pull_credentials(lines)) + "\n"


def _without_pull_credentials(lines: list[str]) -> list[str]:
    """The lines without the ``pullCredentials:`` block (its key and the lines indented under
    it)."""
    kept: list[str] = []
    block: int | None = None  # the block's indent while inside it
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if block is not None and (indent > block or not line.strip()):
            continue
        block = indent if line.strip().startswith("pullCredentials:") else None
        if block is None:
            kept.append(line)
    return kept


def _with_tag(line: str, tag: str) -> str:
    return f"    tag: {tag}" if line.strip().startswith("tag:") else line


def set_tag(path: Path, tag: str) -> None:
    """Commit ``tag`` as the image tag of the desired file at ``path``."""
    lines = [_with_tag(line, tag) for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    git(_repo_of(path), "commit", "-qam", f"deploy {tag}")


def revert(path: Path) -> None:
    git(_repo_of(path), "revert", "--no-edit", "HEAD")


def _repo_of(path: Path) -> Path:
    return path.parent.parent  # <repo>/desired/<file>


def load(repo: Path) -> list[ServiceSpec]:
    paths = [repo / "desired"]
    return list(desired.load(paths, revision=source.revision_of(paths)).services)


def git(repo: Path, *args: str) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    author = ("-c", "user.name=demo", "-c", "user.email=demo@localhost")
    Git.work_tree(repo, timeout=30).run(*author, *args)
