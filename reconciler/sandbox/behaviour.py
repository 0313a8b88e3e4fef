"""How each image behaves: whether it ever becomes healthy, its 5xx share and its latency.

An instance whose UserData pulls from ECR without logging in first never starts its app, as on
EC2 (``registry_login``): it pulled nothing, fails every health check and serves no request.

The image an instance runs is read from its UserData the way the reconciler reads it: a pinned
digest is looked up by digest, an unpinned tag (the seed's ``IMAGE_TAG="latest"``) by what the
tag points at when the instance boots. The tags of that image are kept on the instance: a tag
that moves later does not change what an instance already pulled. Its behaviour is looked up
by those tags at every request, so a test that changes a behaviour changes running instances.

Defaults (``DEFAULTS``; the seed's story, issue 12):

- ``v2.0`` never starts: nothing listens on 8080, health checks fail, requests get ELB 502s;
- ``v2.1`` starts and passes ``/actuator/health``, but 30% of requests get 500 (the seed's
  incident: a NullPointerException while the health endpoint says UP);
- ``v1.2-slow`` is healthy with a p99 of 3 s;
- every other image (``v1.0``, ``v1.1``, images outside the sandbox's ECR): healthy, 0.1% 500s,
  median 0.05 s, p99 0.25 s.

Response times are lognormal, fixed by their median and p99 (derived: sigma = ln(p99/median)
/ z(0.99)); 500s take as long as other answers (the sandbox's simplification).
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
from dataclasses import dataclass, replace
from typing import Any

from moto.ecr.models import ecr_backends

from reconciler.images import scripts
from reconciler.images.reference import ecr_registry
from reconciler.sandbox import registry_login

_TAGS = "_sandbox_image_tags"
_BOOT_FAILURE = "_sandbox_boot_failure"
Z_99 = 2.3263478740408408  # the standard normal's 0.99 quantile


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What an image does once booted."""

    healthy: bool = True  # False: the app never starts, nothing listens
    error_rate: float = 0.001  # share of requests answered 500
    median: float = 0.05  # seconds
    p99: float = 0.25  # seconds

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate is a share between 0 and 1")
        if not 0.0 < self.median <= self.p99:
            raise ValueError("latencies need 0 < median <= p99")

    @property
    def sigma(self) -> float:
        """The lognormal's sigma for this median and p99."""
        return math.log(self.p99 / self.median) / Z_99


DEFAULT = Behaviour()
DEFAULTS: dict[str, Behaviour] = {
    "v2.0": Behaviour(healthy=False),
    "v2.1": Behaviour(error_rate=0.30),
    "v1.2-slow": Behaviour(median=0.3, p99=3.0),
}


class Behaviours:
    """Image tag -> behaviour; tests change them with ``set`` (``sandbox.behaviours``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_tag: dict[str, Behaviour] = dict(DEFAULTS)
        self.default = DEFAULT

    def set(self, tag: str, **changes: Any) -> Behaviour:
        """Change ``tag``'s behaviour (fields of ``Behaviour``); returns the new one."""
        with self._lock:
            changed = replace(self._by_tag.get(tag, self.default), **changes)
            self._by_tag[tag] = changed
            return changed

    def get(self, tag: str) -> Behaviour:
        with self._lock:
            return self._by_tag.get(tag, self.default)

    def reset(self) -> None:
        with self._lock:
            self._by_tag = dict(DEFAULTS)
            self.default = DEFAULT

    def of_tags(self, tags: frozenset[str]) -> Behaviour:
        """The behaviour of an image carrying ``tags``: a tag with its own behaviour wins."""
        with self._lock:
            for tag in sorted(tags):
                if tag in self._by_tag:
                    return self._by_tag[tag]
            return self.default


NEVER_STARTS = Behaviour(healthy=False)


def of(instance: Any, behaviours: Behaviours) -> Behaviour:
    """What the instance's image does now."""
    if boot_failure(instance):
        return NEVER_STARTS
    return behaviours.of_tags(image_tags(instance))


def boot_failure(instance: Any) -> str | None:
    """Why the instance's boot script never started the app, or None (read once, at boot)."""
    if _BOOT_FAILURE not in instance.__dict__:
        instance.__dict__[_BOOT_FAILURE] = registry_login.refusal(_user_data(instance))
    found: str | None = instance.__dict__[_BOOT_FAILURE]
    return found


def image_tags(instance: Any) -> frozenset[str]:
    """Every tag of the image the instance pulled at boot (empty outside the sandbox's ECR)."""
    cached: frozenset[str] | None = instance.__dict__.get(_TAGS)
    if cached is None:
        cached = _pulled_tags(instance)
        instance.__dict__[_TAGS] = cached
    return cached


def _pulled_tags(instance: Any) -> frozenset[str]:
    image = scripts.parse_image(_user_data(instance))
    if image is None or boot_failure(instance):
        return frozenset()
    repository = _ecr_repository(image.repository)
    if repository is None:
        return frozenset()
    digest = image.digest or _digest_of_tag(repository, image.tag)
    if digest is None:
        return frozenset()
    return frozenset(_tags_of_digest(repository, digest))


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


def _ecr_repository(repository: str) -> Any | None:
    """The moto ECR repository for ``<account>.dkr.ecr.<region>.amazonaws.com/<name>``."""
    host, _, name = repository.partition("/")
    registry = ecr_registry(host)
    if registry is None or not name:
        return None
    try:
        backend = ecr_backends[registry.account][registry.region]
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
