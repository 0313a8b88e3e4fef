"""UserData templates: check them, render them with a pinned image, and read the image back.

Pure functions, no I/O. A template is a boot script with placeholders written ``${NAME}``:

- ``${IMAGE}``: the pinned reference ``repository@sha256:...`` (what makes every instance run the
  same bytes, whenever it boots);
- ``${IMAGE_TAG}``: the tag the digest was resolved from, or empty when the spec pins a digest;
- ``${IMAGE_DIGEST}``: ``sha256:...``;
- ``${SERVICE}``: the service's name (``metadata.name``).

``$${`` writes a literal ``${``, for shell code that needs its own ``${VAR}``. Any other ``${...}``
is an error: a typo would otherwise ship as text and surface only on a booting instance.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable, Iterator, Mapping

from reconciler.errors import InvalidDesiredState
from reconciler.model import DESCRIPTION_MARKER, ImageSpec, Problem, ResolvedImage

PLACEHOLDERS = ("IMAGE", "IMAGE_TAG", "IMAGE_DIGEST", "SERVICE")

# AWS: "User data is limited to 16 KB, in raw form, before it is base64-encoded" (EC2 User Guide).
# The base64 text AWS receives is then at most ceil(16384 / 3) * 4 = 21848 characters.
MAX_USER_DATA_BYTES = 16 * 1024
# CreateLaunchTemplateVersion's VersionDescription: 0-255 characters.
MAX_DESCRIPTION_CHARS = 255

# ----------------------------------------------------------------------------------------------
# Grammars. Everything substituted into a boot script is checked against one first, so no value
# can carry shell syntax (';', '$(', backticks, quotes, whitespace, newlines) into it.
# ----------------------------------------------------------------------------------------------

# The distribution reference grammar (github.com/distribution/reference, regexp.go), ASCII only.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
# OCI image spec registered algorithms; hex must be lowercase.
_DIGEST = r"(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})"
_SERVICE = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"

REPOSITORY_RE = re.compile(_NAME, re.ASCII)
TAG_RE = re.compile(_TAG, re.ASCII)
DIGEST_RE = re.compile(_DIGEST, re.ASCII)
SERVICE_RE = re.compile(_SERVICE, re.ASCII)
# distribution/reference: NameTotalLengthMax.
MAX_REPOSITORY_CHARS = 255

REPOSITORY_ALLOWED = (
    "[registry[:port]/]path, where the path is '/'-separated components of lowercase letters and "
    "digits joined by '.', '_', '__' or '-', at most 255 characters (e.g. ghcr.io/owner/app)"
)
TAG_ALLOWED = (
    "1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-' "
    "(e.g. latest, sha-1a2b3c4, v1.2.3)"
)
DIGEST_ALLOWED = "sha256: followed by 64 lowercase hex digits (or sha512: and 128)"
SERVICE_ALLOWED = (
    "1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"
)


def repository_error(value: str) -> str | None:
    """Why ``value`` is not a repository name, or None when it is one."""
    if len(value) > MAX_REPOSITORY_CHARS:
        return f"is {len(value)} characters long"
    if REPOSITORY_RE.fullmatch(value):
        return None
    last = value.rsplit("/", 1)[-1]
    if "@" in value:
        return f"{value!r} holds a digest: put it in image.digest"
    if ":" in last:
        return f"{value!r} holds a tag: put it in image.tag"
    if value.split("/", 1)[-1] != value.split("/", 1)[-1].lower():
        return f"{value!r} is not a valid repository: path components must be lowercase"
    return f"{value!r} is not a valid repository"


def tag_error(value: str) -> str | None:
    if TAG_RE.fullmatch(value):
        return None
    return f"{value!r} is not a valid tag"


def digest_error(value: str) -> str | None:
    if DIGEST_RE.fullmatch(value):
        return None
    return f"{value!r} is not a valid digest"


def service_error(value: str) -> str | None:
    if SERVICE_RE.fullmatch(value):
        return None
    return f"{value!r} is not a valid service name"


# ----------------------------------------------------------------------------------------------
# Templates.
# ----------------------------------------------------------------------------------------------

# `$$` escapes; `${...}` is a placeholder; an unclosed `${` on its line is reported, not ignored.
_TOKEN = re.compile(r"\$\$|\$\{([^}\n]*)(\}?)")


def _tokens(text: str) -> Iterator[re.Match[str]]:
    return _TOKEN.finditer(text)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def check_template(text: str, *, file: str, field: str, line: int) -> list[Problem]:
    """Problems with a template's placeholders, located at the desired file's ``field``.

    The message names the template line, since the problem is in the template's text.
    """
    allowed = ", ".join(f"${{{name}}}" for name in PLACEHOLDERS) + " ($${ for a literal ${)"
    problems: list[Problem] = []
    uses_image = False
    for match in _tokens(text):
        name, closed = match.group(1), match.group(2)
        if name is None:
            continue  # `$$`
        where = f"template line {_line_at(text, match.start())}"
        if not closed:
            message = f"{where}: unclosed placeholder {match.group(0)!r}"
        elif name not in PLACEHOLDERS:
            message = f"{where}: unknown placeholder ${{{name}}}"
        else:
            uses_image = uses_image or name == "IMAGE"
            continue
        problems.append(Problem(file, line, field, message, allowed))
    if not uses_image:
        message = "the template never uses ${IMAGE}, so instances would not run the pinned image"
        problems.append(Problem(file, line, field, message, "a template containing ${IMAGE}"))
    return problems


def substitute(template: str, values: Mapping[str, str]) -> str:
    """Replace placeholders in one pass (a value is never re-scanned). No validation here."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return values.get(name, match.group(0)) if match.group(2) else match.group(0)

    return _TOKEN.sub(replace, template)


def _render_problems(image: ResolvedImage, service: str) -> list[Problem]:
    checks: list[tuple[str, str | None, Callable[[str], str | None], str]] = [
        ("spec.image.repository", image.repository, repository_error, REPOSITORY_ALLOWED),
        ("spec.image.tag", image.tag, tag_error, TAG_ALLOWED),
        ("spec.image.digest", image.digest, digest_error, DIGEST_ALLOWED),
        ("metadata.name", service, service_error, SERVICE_ALLOWED),
    ]
    problems = []
    for field, value, check, allowed in checks:
        reason = None if value is None else check(value)
        if reason:
            problems.append(Problem("<render>", 0, field, reason, allowed))
    return problems


def render(template: str, *, image: ResolvedImage, service: str) -> str:
    """The UserData for ``service`` running ``image``: plain text, not base64.

    Raises InvalidDesiredState when a value breaks its grammar (nothing unchecked reaches a shell),
    when the template has unknown placeholders, or when the result exceeds AWS's 16 KB limit.
    """
    problems = _render_problems(image, service)
    problems += check_template(
        template, file="<render>", field="spec.launchTemplate.userData", line=0
    )
    if problems:
        raise InvalidDesiredState(problems)
    values = {
        "IMAGE": image.pinned,
        "IMAGE_TAG": image.tag or "",
        "IMAGE_DIGEST": image.digest,
        "SERVICE": service,
    }
    user_data = substitute(template, values)
    size_problem = check_size(
        user_data, file="<render>", field="spec.launchTemplate.userData", line=0
    )
    if size_problem:
        raise InvalidDesiredState([size_problem])
    return user_data


def check_size(user_data: str, *, file: str, field: str, line: int) -> Problem | None:
    """A Problem when rendered UserData is over AWS's limit (raw bytes, before base64)."""
    size = len(user_data.encode("utf-8"))
    if size <= MAX_USER_DATA_BYTES:
        return None
    encoded = -(-size // 3) * 4
    message = (
        f"the rendered UserData is {size} bytes ({encoded} characters once base64-encoded); "
        f"AWS limits UserData to {MAX_USER_DATA_BYTES} bytes before base64 encoding"
    )
    return Problem(file, line, field, message, f"at most {MAX_USER_DATA_BYTES} bytes rendered")


def fingerprint(*, launch_template_name: str, user_data: str) -> str:
    """What a launch template version holds, independent of the commit that produced it."""
    digest = hashlib.sha256(f"{launch_template_name}\0{user_data}".encode())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# Launch template version descriptions.
# ----------------------------------------------------------------------------------------------

_FINGERPRINT_RE = re.compile(r"[0-9a-f]{16}")
_PINNED_RE = re.compile(rf"({_NAME})@({_DIGEST})", re.ASCII)


def description(*, fingerprint: str, revision: str | None, image: ResolvedImage) -> str:
    rev = revision[:12] if revision else "-"
    # The tag goes before the image so that the 255-character cut takes the image first.
    tag = image.tag or "-"
    text = f"{DESCRIPTION_MARKER} fp={fingerprint} rev={rev} tag={tag} image={image.pinned}"
    return text[:MAX_DESCRIPTION_CHARS]


def parse_description(text: str) -> dict[str, str]:
    """``{"fp", "rev", "tag", "image"}`` from a description we wrote; ``{}`` when not ours.

    ``rev`` is absent when the version was created outside git, ``tag`` when the image was pinned
    by digest alone (both written as ``-``), and ``image`` when the 255-character cut truncated it.
    """
    words = text.split()
    if not words or words[0] != DESCRIPTION_MARKER:
        return {}
    fields = dict(word.partition("=")[::2] for word in words[1:] if "=" in word)
    if not _FINGERPRINT_RE.fullmatch(fields.get("fp", "")):
        return {}
    result = {"fp": fields["fp"]}
    for key in ("rev", "tag"):
        if fields.get(key, "-") != "-":
            result[key] = fields[key]
    if _PINNED_RE.fullmatch(fields.get("image", "")):
        result["image"] = fields["image"]
    return result


# ----------------------------------------------------------------------------------------------
# Reading the image back from UserData (ours, or the hand-written scripts we take over).
# ----------------------------------------------------------------------------------------------

# A pinned reference anywhere in the script; the look-behind keeps it from starting mid-word.
_PINNED_IN_TEXT = re.compile(
    rf"(?<![A-Za-z0-9._/:@\[-])(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?@(?P<digest>{_DIGEST})"
    r"(?![A-Za-z0-9])",
    re.ASCII,
)
_REFERENCE = re.compile(
    rf"(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?", re.ASCII
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


def _image_argument(words: list[str]) -> str | None:
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
        image = _image_argument(_words(line[match.start() :])) if match else None
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


def _spec(match: re.Match[str], *, default_tag: str | None) -> ImageSpec:
    return ImageSpec(match["name"], match["tag"] or default_tag, match["digest"])


def _from_docker_lines(images: list[tuple[str, str]]) -> ImageSpec | None:
    """The first image word with a tag or digest; else the first bare one, as docker's latest."""
    matches = [_REFERENCE.fullmatch(word) for _, word in images]
    valid = [m for m in matches if m and not m["name"].isdigit()]
    explicit = next((m for m in valid if m["tag"] or m["digest"]), None)
    if explicit:
        return _spec(explicit, default_tag=None)
    return _spec(valid[0], default_tag="latest") if valid else None


def parse_image(user_data: str) -> ImageSpec | None:
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
    assigned_tag = assigned_tag if assigned_tag and TAG_RE.fullmatch(assigned_tag) else None
    pinned = _PINNED_IN_TEXT.search("\n".join(lines))
    if pinned:
        return _spec(pinned, default_tag=assigned_tag)
    raw = _docker_images(lines)
    found = _from_docker_lines(raw)
    if found:
        return found
    expanded = [(command, _expand(word, variables)) for command, word in raw]
    for _, word in expanded:
        match = _PINNED_IN_TEXT.fullmatch(word)
        if match:
            return _spec(match, default_tag=assigned_tag)
    return _from_docker_lines(expanded)
