"""Admission of a revision's images: every image a commit names must resolve, or the commit is
refused like an invalid file (``errors.UnresolvableImage``, with file:line:field).

A revision whose tag is missing from the registry would otherwise become the "last good" one:
nothing of it could be applied, and the revision before it would no longer be reconciled. A
registry that cannot be reached says nothing about the commit: it is admitted, and the service's
own pass meets the same temporary error and backs off alone, so one registry's outage never
holds back the other services' commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler import errors
from reconciler.desired import yamlload
from reconciler.images.resolver import ImageResolver
from reconciler.model import Problem, ServiceSpec

ALLOWED = "a tag or digest the registry holds (push the image first, then commit its tag)"


def admit_images(specs: Sequence[ServiceSpec], resolver: ImageResolver) -> None:
    """Resolve each service's image; raise ``UnresolvableImage`` naming each that does not."""
    problems = [p for p in (_problem(spec, resolver) for spec in specs) if p is not None]
    if problems:
        raise errors.UnresolvableImage(problems)


def _problem(spec: ServiceSpec, resolver: ImageResolver) -> Problem | None:
    try:
        resolver.resolve(spec.image, region=spec.region, max_age=spec.image_poll_interval)
    except errors.TemporaryError:
        return None  # cannot tell yet: the service's pass backs off on it
    except errors.PermanentError as exc:
        field = "spec.image.tag" if spec.image.tag is not None else "spec.image.digest"
        if spec.image.tag is None and spec.image.digest is None:
            field = "spec.image"
        return Problem(
            file=spec.source.file,
            line=_line(spec, field),
            field=field,
            message=f"service {spec.name}: {exc}",
            allowed=ALLOWED,
        )
    return None


def _line(spec: ServiceSpec, field: str) -> int:
    """The line of ``field`` in the service's document; the document's own when unreadable."""
    try:
        text = Path(spec.source.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return spec.source.line
    path = tuple(field.split("."))
    for document in yamlload.parse(text, file=spec.source.file).documents:
        metadata = document.data.get("metadata") if isinstance(document.data, dict) else None
        if isinstance(metadata, dict) and metadata.get("name") == spec.name:
            return document.lines.get(path, document.line)
    return spec.source.line
