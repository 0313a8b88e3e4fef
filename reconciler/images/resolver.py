"""Image tags to digests: the reconciler pins what it deploys (``repository@sha256:...``).

``ImageResolver.resolve`` answers "which digest does this image name now?":

- ECR repositories (``<account>.dkr.ecr.<region>.amazonaws.com/<name>``) through
  ``Aws.call("ecr", "describe_images")`` in the region of the host name, where the registry lives.
- Any other registry through the OCI distribution API (``reconciler.images.registry``), with
  credentials
  from the docker config of the ops host.

Tags move, so a tag's digest is cached for ``poll_interval`` seconds: one registry request per
image per interval, however many services share the image and however often the loop ticks.
A digest never moves, so a pinned digest is checked once per process and then trusted: a typo
then fails before a rollout rather than during one. Failures are not cached: the next call asks
again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import requests
import structlog

from reconciler import errors
from reconciler.aws import Aws
from reconciler.images.credentials import DockerConfigCredentials
from reconciler.images.reference import (
    DEFAULT_TAG,
    ImageReference,
    InvalidReference,
    ecr_registry,
    image_reference,
    is_digest,
)
from reconciler.images.registry import RegistryClient
from reconciler.model import ImageSpec, ResolvedImage

log = structlog.get_logger(__name__)

_ECR_MISSING = frozenset({"ImageNotFoundException", "RepositoryNotFoundException"})


class _Repository(Protocol):
    """One repository in one registry: answers which digest a tag or digest names."""

    @property
    def key(self) -> str: ...

    def digest_of(self, reference: str) -> str: ...


@dataclass(frozen=True, slots=True)
class _EcrRepository:
    aws: Aws | None
    ref: ImageReference
    account: str
    region: str

    @property
    def key(self) -> str:
        return self.ref.key

    def digest_of(self, reference: str) -> str:
        if self.aws is None:
            raise errors.PermanentError(
                f"image {self.ref.repository} is in ECR, but AWS is not set up"
            )
        by = "imageDigest" if is_digest(reference) else "imageTag"
        sep = "@" if by == "imageDigest" else ":"
        image = f"{self.ref.repository}{sep}{reference}"
        try:
            response = self.aws.call(
                "ecr",
                "describe_images",
                region=self.region,
                resource=image,
                registryId=self.account,
                repositoryName=self.ref.path,
                imageIds=[{by: reference}],
            )
        except errors.AwsApiError as exc:
            if exc.code in _ECR_MISSING:
                raise errors.ImageNotFound(
                    f"image {image} not found in registry {self.ref.registry}"
                ) from None
            raise
        details = response.get("imageDetails") or []
        digest = details[0].get("imageDigest") if details else None
        if not isinstance(digest, str) or not digest:
            raise errors.ImageNotFound(f"image {image} not found in registry {self.ref.registry}")
        return digest


@dataclass(frozen=True, slots=True)
class _OciRepository:
    client: RegistryClient
    ref: ImageReference

    @property
    def key(self) -> str:
        return self.ref.key

    def digest_of(self, reference: str) -> str:
        return self.client.manifest_digest(self.ref, reference)


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: str
    resolved_at: float


class ImageResolver:
    """Resolves image tags to digests, each mutable tag at most once per ``poll_interval``.

    ``docker_config`` is a directory holding ``config.json`` or the file itself; by default the
    docker SDK's lookup (``DOCKER_CONFIG``, then ``~/.docker/config.json``). ``session`` is the
    ``requests.Session`` used for registries (tests hook it to count requests).
    """

    def __init__(
        self,
        aws: Aws | None,
        *,
        poll_interval: float = 300,
        clock: Callable[[], float] = time.monotonic,
        docker_config: str | None = None,
        session: requests.Session | None = None,
        verify_digests: bool = True,
    ) -> None:
        self._aws = aws
        self._poll_interval = poll_interval
        self._clock = clock
        self._verify_digests = verify_digests
        self._client = RegistryClient(
            credentials=DockerConfigCredentials(docker_config=docker_config),
            clock=clock,
            session=session,
        )
        self._tags: dict[tuple[str, str], _Entry] = {}
        self._digests: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        # One lock per repository and tag, so concurrent ticks share one request.
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}

    @property
    def requests(self) -> Counter[str]:
        """HTTP requests sent to registries and their token services, by host."""
        return self._client.requests

    def resolve(
        self, image: ImageSpec, *, region: str, max_age: float | None = None
    ) -> ResolvedImage:
        """The digest ``image`` names: cached for a tag, checked once for a pinned digest.

        ``max_age`` overrides the poll interval for this call (a service's ``imagePollInterval``).

        ``region`` is the service's. It does not pick the registry: an ECR image is looked up in
        the region its host names, since instances may pull across regions.
        Raises ImageNotFound, RegistryUnavailable (temporary), or PermanentError when the
        reference is invalid or a pinned digest disagrees with the tag.
        """
        tag = image.tag if image.tag is not None or image.digest is not None else DEFAULT_TAG
        repo = self._repository(image, tag)
        if tag is None:
            assert image.digest is not None
            self._verify_digest(repo, image.digest)
            return ResolvedImage(repository=image.repository, tag=None, digest=image.digest)
        digest = self._tag_digest(repo, tag, max_age=max_age)
        if image.digest is not None and digest != image.digest:
            raise errors.PermanentError(
                f"image {image.repository}:{tag} is {digest} in the registry, "
                f"but desired state pins {image.digest}"
            )
        return ResolvedImage(repository=image.repository, tag=tag, digest=digest)

    # -- internals -----------------------------------------------------------------------------

    def _repository(self, image: ImageSpec, tag: str | None) -> _Repository:
        """Where ``image`` lives; PermanentError when any part of it breaks the grammar."""
        try:
            ref = image_reference(image.repository, tag, image.digest)
        except InvalidReference as exc:
            raise errors.PermanentError(f"{exc} (image {image.repository})") from None
        ecr = ecr_registry(ref.registry)
        if ecr:
            return _EcrRepository(aws=self._aws, ref=ref, account=ecr.account, region=ecr.region)
        return _OciRepository(client=self._client, ref=ref)

    def _tag_digest(self, repo: _Repository, tag: str, *, max_age: float | None) -> str:
        interval = self._poll_interval if max_age is None else max_age
        key = (repo.key, tag)
        with self._key_lock(key):
            with self._lock:
                entry = self._tags.get(key)
            now = self._clock()
            if entry is not None and now - entry.resolved_at < interval:
                return entry.digest
            digest = repo.digest_of(tag)
            with self._lock:
                self._tags[key] = _Entry(digest=digest, resolved_at=now)
        if entry is None or entry.digest != digest:
            log.info(
                "image.resolved",
                image=f"{repo.key}:{tag}",
                digest=digest,
                previous=entry.digest if entry else None,
            )
        return digest

    def _verify_digest(self, repo: _Repository, digest: str) -> None:
        key = (repo.key, digest)
        if not self._verify_digests:
            return
        with self._key_lock(key):
            with self._lock:
                if key in self._digests:
                    return
            served = repo.digest_of(digest)
            if served != digest:
                # A registry answering a digest with another digest is broken, not moved.
                raise errors.RegistryUnavailable(
                    f"registry served {served} when asked for {repo.key}@{digest}", delay=60.0
                )
            with self._lock:
                self._digests.add(key)

    def _key_lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())
