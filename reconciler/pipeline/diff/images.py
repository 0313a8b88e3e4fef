"""Which image an observed launch template version runs, and how the diff names it.

This is the diff's own copy of the image reference grammar (the regexes and the reference
splitting below) and of the reader of the image in a version's UserData (``version_image``),
moved here unchanged from the old ``diff.py``. ``reconciler.images`` is to hold THE grammar and
THE reader; this module is the one place the diff package would call them instead.
"""

from __future__ import annotations

import re

from reconciler.images import userdata
from reconciler.model import LaunchTemplateVersion

_DIGEST_REF = re.compile(
    r"(?P<repo>[\w.\-]+(?::\d+)?(?:/[\w.\-]+)*)@(?P<digest>sha256:[0-9a-f]{64})"
)
# A registry host has a dot (or is localhost:port); requiring one keeps "8080:8080" out.
_TAGGED_REF = re.compile(
    r"(?:[\w\-]+\.[\w.\-]+|localhost)(?::\d+)?(?:/[\w.\-]+)+:[\w][\w.\-]{0,127}"
)
_TAG_VARIABLE = re.compile(r"""\bIMAGE_TAG=["']?(?P<tag>[\w][\w.\-]{0,127})""")


def version_image(version: LaunchTemplateVersion) -> str | None:
    """The image a version runs: ``repo@sha256:…``, ``repo:tag``, ``:tag``, or None."""
    fields = userdata.parse_description(version.description)
    if "image" in fields:  # absent when the 255-character cut went through the digest
        repository, _, digest = fields["image"].partition("@")
        tag = fields.get("tag")
        return f"{repository}:{tag}@{digest}" if tag else fields["image"]
    pinned = _DIGEST_REF.search(version.user_data)
    if pinned:
        return pinned.group(0)
    # The seed's workflow renders `IMAGE_TAG="latest"` and pulls `repo:$IMAGE_TAG`.
    tagged = _TAG_VARIABLE.search(version.user_data)
    if tagged:
        return f":{tagged.group('tag')}"
    return _tagged_reference(version.user_data)


def _tagged_reference(user_data: str) -> str | None:
    match = _TAGGED_REF.search(user_data)
    return match.group(0) if match else None


def pinned(reference: str | None) -> str | None:
    """``repo:tag@sha256:…`` → ``repo@sha256:…``; other references as they are."""
    if reference is None or "@" not in reference:
        return reference
    named, digest = reference.split("@", 1)
    return f"{_split_tag(named)[0]}@{digest}"


def _split_tag(reference: str) -> tuple[str, str | None]:
    """``repo:tag`` → (repo, tag); a ``host:port/`` prefix is not a tag."""
    repo, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:
        return reference, None
    return repo, tag


def describe_image(ref: str | None, *, repository: str) -> str:
    """Show an observed image like ``ResolvedImage.describe``: digests short, tags flagged."""
    if not ref:
        return "unknown"
    if "@" in ref:
        named, digest = ref.split("@", 1)
        repo, tag = _split_tag(named)
        short = f"sha256:{digest.removeprefix('sha256:')[:12]}"
        shown = f"{tag} ({short})" if tag else short
        return shown if repo == repository else f"{repo}@{shown}"
    repo, _, tag = ref.rpartition(":")
    shown = f"{tag} (unpinned)"
    return shown if repo in ("", repository) else f"{repo}:{shown}"
