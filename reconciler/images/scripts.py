"""THE reader of "which image does this UserData run": ours, or a hand-written script we took over.

``version_image`` answers it for a launch template version (the description we wrote, else the
UserData); ``script_image`` for a script alone; ``describe`` shows the answer the way the diff
shows an image. Every reference found is parsed by ``reference``, so a script's image means what
it means to ``docker pull``: Docker Hub short names (``myorg/api:v1``, ``nginx``), registries with
ports (``localhost:5000/app:dev``), pinned digests, and tags from the script's own variables (the
seed's ``IMAGE_TAG="latest"`` with ``repo:$IMAGE_TAG``). Pure: no I/O, so ``diff`` may use it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from reconciler.images.description import parse_description
from reconciler.images.reference import (
    DEFAULT_TAG,
    DIGEST_PATTERN,
    NAME_PATTERN,
    TAG_PATTERN,
    ImageReference,
    InvalidReference,
    image_reference,
    parse,
    tag_error,
)
from reconciler.model import ImageSpec, LaunchTemplateVersion, ResolvedImage

# A pinned reference anywhere in the script; the look-behind keeps it from starting mid-word.
_PINNED_IN_TEXT = re.compile(
    rf"(?<![A-Za-z0-9._/:@\[-])(?P<name>{NAME_PATTERN})(?::(?P<tag>{TAG_PATTERN}))?"
    rf"@(?P<digest>{DIGEST_PATTERN})(?![A-Za-z0-9])",
    re.ASCII,
)
_ASSIGNMENT = re.compile(
    r"^\s*(?:(?:export|readonly|local|declare(?:\s+-\w+)?)\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$"
)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_DOCKER = re.compile(r"\b(?:docker|podman)\s+(?:(?:image|container)\s+)?(pull|run|create)\b")

# docker run/create options that take no value; every other option consumes the next word
# unless written --opt=value.
_RUN_FLAGS = frozenset(
    [
        "--detach",
        "--interactive",
        "--tty",
        "--rm",
        "--privileged",
        "--init",
        "--publish-all",
        "--read-only",
        "--no-healthcheck",
        "--oom-kill-disable",
        "--quiet",
        "--help",
        "--sig-proxy",
        "--all-tags",
    ]
)
_RUN_SHORT_FLAGS = frozenset("ditPq")


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined, as the shell reads them."""
    return re.sub(r"\\\r?\n", " ", text).splitlines()


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:  # unbalanced quotes: fall back to whitespace, good enough to find an image
        return line.split()


def _takes_value(option: str) -> bool:
    if option.startswith("--"):
        return "=" not in option and option not in _RUN_FLAGS
    cluster = option[1:]
    return not all(letter in _RUN_SHORT_FLAGS for letter in cluster)


def image_argument(words: list[str]) -> str | None:
    """The first positional word after ``pull``/``run``/``create``: the image."""
    try:
        start = next(i for i, w in enumerate(words) if w in ("pull", "run", "create")) + 1
    except StopIteration:
        return None
    skip = False
    for word in words[start:]:
        if skip:
            skip = False
        elif word.startswith("-") and word != "-":
            skip = _takes_value(word)
        else:
            return word
    return None


def _docker_images(lines: list[str]) -> list[tuple[str, str]]:
    """(command, image word) for each docker pull/run/create line, pulls first."""
    found = []
    for line in lines:
        match = _DOCKER.search(line)
        image = image_argument(_words(line[match.start() :])) if match else None
        if match and image:
            found.append((match.group(1), image))
    return sorted(found, key=lambda item: item[0] != "pull")


def _assignments(lines: list[str]) -> dict[str, str]:
    """Shell variables assigned a literal value, each expanded with those assigned before it."""
    values: dict[str, str] = {}
    for line in lines:
        match = _ASSIGNMENT.match(line)
        if not match:
            continue
        words = _words(match.group(2))
        values[match.group(1)] = _expand(words[0] if words else "", values)
    return values


def _expand(text: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return _VARIABLE.sub(replace, text)


def _pinned_reference(match: re.Match[str], *, default_tag: str | None) -> ImageReference | None:
    try:
        return image_reference(match["name"], match["tag"] or default_tag, match["digest"])
    except InvalidReference:  # within the patterns, but over a length limit
        return None


def _word_reference(word: str) -> ImageReference | None:
    """``word`` as an image, or None; a number alone is a port mapping's half, not an image."""
    try:
        found = parse(word)
    except InvalidReference:
        return None
    return None if found.repository.isdigit() else found


def _from_docker_lines(images: list[tuple[str, str]]) -> ImageReference | None:
    """The first image word with a tag or digest; else the first bare one, as docker's latest."""
    found = [ref for ref in (_word_reference(word) for _, word in images) if ref is not None]
    explicit = next((ref for ref in found if ref.tag or ref.digest), None)
    if explicit or not found:
        return explicit
    bare = found[0]
    return image_reference(bare.repository, DEFAULT_TAG)


def script_image(user_data: str) -> ImageReference | None:
    """The image a UserData script runs, or None when none can be found.

    In order: a pinned ``repo@sha256:...`` anywhere; a ``repo:tag`` in a docker pull/run line; the
    same after expanding the script's own variables (the seed's ``IMAGE_TAG="latest"`` with
    ``repo:${IMAGE_TAG}``). A pinned reference's tag comes from ``repo:tag@...`` or, failing that,
    from an ``IMAGE_TAG`` assignment.
    """
    # Comment lines are skipped: a commented-out `docker pull` is not what the instance runs.
    lines = [line for line in _logical_lines(user_data) if not line.lstrip().startswith("#")]
    variables = _assignments(lines)
    assigned_tag = variables.get("IMAGE_TAG")
    assigned_tag = assigned_tag if assigned_tag and tag_error(assigned_tag) is None else None
    pinned = _PINNED_IN_TEXT.search("\n".join(lines))
    if pinned:
        return _pinned_reference(pinned, default_tag=assigned_tag)
    raw = _docker_images(lines)
    found = _from_docker_lines(raw)
    if found:
        return found
    expanded = [(command, _expand(word, variables)) for command, word in raw]
    for _, word in expanded:
        match = _PINNED_IN_TEXT.fullmatch(word)
        if match:
            return _pinned_reference(match, default_tag=assigned_tag)
    return _from_docker_lines(expanded)


def version_image(version: LaunchTemplateVersion) -> ImageReference | None:
    """The image a launch template version runs: from our description, else from its UserData."""
    fields = parse_description(version.description)
    if "image" in fields:  # absent when the 255-character cut went through the digest
        ours = parse(fields["image"])
        return image_reference(ours.repository, fields.get("tag"), ours.digest)
    return script_image(version.user_data)


def parse_image(user_data: str) -> ImageSpec | None:
    """``script_image`` as the ``ImageSpec`` desired state would write it."""
    found = script_image(user_data)
    return ImageSpec(found.repository, found.tag, found.digest) if found else None


def describe(image: ImageReference | None, *, repository: str) -> str:
    """An observed image shown like ``ResolvedImage.describe``, with its repository when it is
    not ``repository`` (the desired one); tags without a digest are flagged as unpinned."""
    if image is None:
        return "unknown"
    if image.digest:
        shown = ResolvedImage(image.repository, image.tag, image.digest).describe()
        return shown if image.repository == repository else f"{image.repository}@{shown}"
    shown = f"{image.tag} (unpinned)"
    return shown if image.repository == repository else f"{image.repository}:{shown}"


# What ends one command and starts the next, besides the pipe that joins a pipeline's commands.
_COMMAND_ENDS = frozenset({"||", "&&", ";", "&", ";;", "(", ")", "{", "}"})


def pipelines(user_data: str) -> list[tuple[tuple[str, ...], ...]]:
    """Every pipeline of a script in order, each a tuple of commands (their words, with the
    script's own literal variables expanded); comments and line continuations as the shell
    reads them. A reader for checks, not a shell: no functions, loops or substitutions."""
    lines = [line for line in _logical_lines(user_data) if not line.lstrip().startswith("#")]
    variables = _assignments(lines)
    found: list[tuple[tuple[str, ...], ...]] = []
    for line in lines:
        pipeline: list[tuple[str, ...]] = []
        command: list[str] = []
        for token in [*_tokens(line), ";"]:
            if token not in _COMMAND_ENDS and token != "|":
                command.append(_expand(token, variables))
                continue
            if command:
                pipeline.append(tuple(command))
                command = []
            if token != "|" and pipeline:
                found.append(tuple(pipeline))
                pipeline = []
    return found


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes
        return line.split()
