"""Which images do not work: the sandbox's stand-in for an application that fails to start.

Images tagged ``v2.0`` in the sandbox's ECR are broken; every other image is healthy. The image
an instance runs is read from its UserData the way the reconciler reads it: a pinned digest is
looked up by digest, an unpinned tag (the seed's ``IMAGE_TAG="latest"``) by what the tag points
at when the instance boots. The answer is kept on the instance: a tag that moves later does not
change what an instance already pulled.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from moto.ecr.models import ecr_backends

from reconciler.images import scripts

BROKEN_TAGS = frozenset({"v2.0"})
_VERDICT = "_sandbox_broken"


def runs_broken_image(instance: Any) -> bool:
    cached: bool | None = instance.__dict__.get(_VERDICT)
    if cached is None:
        cached = _judge(instance)
        instance.__dict__[_VERDICT] = cached
    return cached


def _judge(instance: Any) -> bool:
    image = scripts.parse_image(_user_data(instance))
    if image is None:
        return False
    repository = _ecr_repository(instance, image.repository)
    if repository is None:  # not in the sandbox's ECR: nothing says it is broken
        return False
    digest = image.digest or _digest_of_tag(repository, image.tag)
    return digest is not None and bool(_tags_of_digest(repository, digest) & BROKEN_TAGS)


def _user_data(instance: Any) -> str:
    raw = instance.user_data
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else ""
    if isinstance(raw, bytes):
        raw = raw.decode()
    text = str(raw or "")
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return text


def _ecr_repository(instance: Any, repository: str) -> Any | None:
    """The moto ECR repository for ``<account>.dkr.ecr.<region>.amazonaws.com/<name>``."""
    host, _, name = repository.partition("/")
    if ".dkr.ecr." not in host or not name:
        return None
    account = host.split(".", 1)[0]
    region = host.split(".dkr.ecr.", 1)[1].split(".", 1)[0]
    try:
        backend = ecr_backends[account][region]
    except KeyError:
        return None
    return backend.repositories.get(name)


def _digest_of_tag(repository: Any, tag: str | None) -> str | None:
    for image in repository.images:
        if tag in image.image_tags:
            digest: str = image.get_image_digest()
            return digest
    return None


def _tags_of_digest(repository: Any, digest: str) -> set[str]:
    tags: set[str] = set()
    for image in repository.images:
        if image.get_image_digest() == digest:
            tags.update(image.image_tags)
    return tags
