"""THE image reference grammar: what ``[registry[:port]/]path[:tag][@digest]`` may be.

Everything that checks, splits or renders an image reference comes here: ``desired`` validating a
service's ``image``, ``userdata`` checking what it substitutes into a boot script, the resolver and
the registry client, and the reader of images in UserData (``scripts``). Pure: no I/O.

The docker SDK does the splitting, so a name means here what it means to ``docker pull``:
``docker.utils.parse_repository_tag`` separates a name from its tag or digest, and
``docker.auth.resolve_repository_name`` separates the registry from the path (a first component
with a ``.`` or a ``:``, or ``localhost``, is a host; anything else is on Docker Hub;
``index.docker.io`` is ``docker.io``). What the SDK lacks is written here, after
distribution/reference (the grammar docker's Go side uses): it validates nothing (it splits
``Nginx`` or ``a//b`` without complaint), knows no digest syntax, reads ``name:tag@digest`` as a
name ``name:tag``, does not know Docker Hub's API host or its ``library/`` prefix, and cannot find
a reference inside a script's text, which needs the grammar as regular expressions.

Digests: the OCI image spec registers ``sha256`` (64 lowercase hex digits) and ``sha512`` (128).
Only ``sha256`` is accepted. It is the algorithm the spec says implementations MUST support and
SHOULD use (``sha512`` is a MAY), and the one every registry this product resolves against
addresses manifests by: ECR's ``imageDigest``, Docker Hub, GHCR and the distribution registry all
answer with sha256 digests. A ``sha512`` pin would pass review and then match nothing on the first
tick, which is the stall this one grammar exists to prevent; it is refused by validation and
resolution alike. Unregistered algorithms, which the spec lets pass as "valid but unsupported",
are refused too: a digest we cannot verify is never pinned into a boot script.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import NamedTuple

import docker.auth
import docker.errors
import docker.utils

# -- the grammar as regular expressions (distribution/reference, regexp.go; ASCII only) ---------

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"

# For other patterns to embed (the UserData reader, the description parser); no groups.
NAME_PATTERN = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
TAG_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
DIGEST_PATTERN = r"sha256:[a-f0-9]{64}"

_REPOSITORY_RE = re.compile(NAME_PATTERN, re.ASCII)
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_TAG_RE = re.compile(TAG_PATTERN, re.ASCII)
_DIGEST_RE = re.compile(DIGEST_PATTERN, re.ASCII)

DIGEST_ALGORITHM = "sha256"
# What docker pulls when a reference names neither a tag nor a digest.
DEFAULT_TAG = "latest"
# distribution/reference: NameTotalLengthMax.
MAX_REPOSITORY_CHARS = 255
MAX_TAG_CHARS = 128

# Docker Hub: credentials are keyed by the index name, the API lives elsewhere, and a one-part
# name is an official image under library/.
DOCKER_HUB_INDEX = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"

REPOSITORY_ALLOWED = (
    "[registry[:port]/]path, where the path is '/'-separated components of lowercase letters and "
    "digits joined by '.', '_', '__' or '-', at most 255 characters (e.g. ghcr.io/owner/app)"
)
TAG_ALLOWED = (
    "1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-' "
    "(e.g. latest, sha-1a2b3c4, v1.2.3)"
)
DIGEST_ALLOWED = "sha256: followed by 64 lowercase hex digits"


class InvalidReference(ValueError):
    """A reference outside the grammar; the message says which part and why."""


class ImageError(NamedTuple):
    """One part of an image that breaks the grammar: ``field`` is repository, tag or digest."""

    field: str
    reason: str
    allowed: str


@dataclass(frozen=True, slots=True)
class ImageReference:
    """An image reference, split the way docker splits it."""

    repository: str  # as written, without tag or digest: "nginx", "localhost:5000/team/app"
    registry: str  # what docker keys credentials by: "docker.io", "ghcr.io", "localhost:5000"
    path: str  # the name at the registry: "library/nginx", "team/app"
    tag: str | None = None
    digest: str | None = None

    @property
    def host(self) -> str:
        """Where the registry API is served."""
        return DOCKER_HUB_HOST if self.registry == DOCKER_HUB_INDEX else self.registry

    @property
    def key(self) -> str:
        """The canonical name: ``nginx`` and ``docker.io/library/nginx`` share one."""
        return f"{self.host}/{self.path}"

    @property
    def pinned(self) -> str | None:
        """``repository@digest``, what instances run; None without a digest."""
        return pinned(self.repository, self.digest) if self.digest else None

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.repository}{tag}{digest}"


# -- checks --------------------------------------------------------------------------------------


def repository_error(value: str) -> str | None:
    """Why ``value`` is not a repository name, or None when it is one."""
    if len(value) > MAX_REPOSITORY_CHARS:
        return f"is {len(value)} characters long"
    if _REPOSITORY_RE.fullmatch(value):
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
    """Why ``value`` is not a tag, or None when it is one."""
    if _TAG_RE.fullmatch(value):
        return None
    return f"{value!r} is not a valid tag"


def digest_error(value: str) -> str | None:
    """Why ``value`` is not a digest this product pins, or None when it is one."""
    if _DIGEST_RE.fullmatch(value):
        return None
    return f"{value!r} is not a valid digest"


def is_digest(value: str) -> bool:
    return digest_error(value) is None


def image_errors(repository: str | None, tag: str | None, digest: str | None) -> list[ImageError]:
    """Every part of an image (absent parts are not checked) that breaks the grammar."""
    parts = (
        ("repository", repository, repository_error, REPOSITORY_ALLOWED),
        ("tag", tag, tag_error, TAG_ALLOWED),
        ("digest", digest, digest_error, DIGEST_ALLOWED),
    )
    found = []
    for field, value, check, allowed in parts:
        reason = None if value is None else check(value)
        if reason:
            found.append(ImageError(field, reason, allowed))
    return found


# -- parsing and rendering -----------------------------------------------------------------------


def image_reference(
    repository: str, tag: str | None = None, digest: str | None = None
) -> ImageReference:
    """A reference from its parts (as desired state gives them); raise InvalidReference."""
    problems = image_errors(repository, tag, digest)
    if problems:
        raise InvalidReference("; ".join(f"invalid {p.field}: {p.reason}" for p in problems))
    try:
        registry, path = docker.auth.resolve_repository_name(repository)
    except docker.errors.DockerException as exc:
        raise InvalidReference(f"invalid repository: {repository!r}: {exc}") from None
    if registry == DOCKER_HUB_INDEX and "/" not in path:
        path = f"library/{path}"
    if not _PATH_RE.fullmatch(path):  # docker's split moved an upper-case host into the path
        raise InvalidReference(
            f"invalid repository: {repository!r} is on Docker Hub, where path components must "
            "be lowercase"
        )
    return ImageReference(repository, registry, path, tag, digest)


def parse(text: str) -> ImageReference:
    """``[registry[:port]/]path[:tag][@digest]`` as one string; raise InvalidReference."""
    named, digest = text, None
    if "@" in text:
        # The SDK reads everything after '@' as "the tag": split the digest off first.
        named, digest = docker.utils.parse_repository_tag(text)
    repository, tag = docker.utils.parse_repository_tag(named)
    return image_reference(repository, tag, digest)


def pinned(repository: str, digest: str) -> str:
    """``repository@digest``: the one spelling of a pinned image."""
    return f"{repository}@{digest}"


def content_digest(content: bytes) -> str:
    """The digest of some bytes, as a registry names a manifest by its content."""
    return f"{DIGEST_ALGORITHM}:{hashlib.new(DIGEST_ALGORITHM, content).hexdigest()}"


# ECR's private registry host: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]
# (Amazon ECR User Guide, "Private registry concepts").
_ECR_HOST = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)"
    r"\.amazonaws\.com(?:\.cn)?",
    re.ASCII,
)


class EcrRegistry(NamedTuple):
    account: str
    region: str


def ecr_registry(registry: str) -> EcrRegistry | None:
    """The account and region of an ECR private registry host, or None for any other registry."""
    match = _ECR_HOST.fullmatch(registry)
    return EcrRegistry(match["account"], match["region"]) if match else None
