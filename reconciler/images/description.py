"""The description of a launch template version we create, and reading one back.

It marks the version as ours and records what ``diff`` and ``status`` need without reading the
UserData: the fingerprint, the git revision, the tag and the pinned image. Pure: no I/O.
"""

from __future__ import annotations

import re

from reconciler.images.reference import InvalidReference, parse
from reconciler.model import DESCRIPTION_MARKER, ResolvedImage

# CreateLaunchTemplateVersion's VersionDescription: 0-255 characters.
MAX_DESCRIPTION_CHARS = 255

_FINGERPRINT_RE = re.compile(r"[0-9a-f]{16}")


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
    if _is_pinned(fields.get("image", "")):
        result["image"] = fields["image"]
    return result


def _is_pinned(text: str) -> bool:
    """``repository@digest`` and nothing else: what ``description`` writes, uncut."""
    try:
        ref = parse(text)
    except InvalidReference:
        return False
    return ref.digest is not None and ref.tag is None
