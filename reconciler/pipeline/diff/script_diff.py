"""A UserData change as a person reviews it: the unified diff of the two rendered scripts.

The image is folded before the scripts are compared: each script's own image reference reads
``${IMAGE}`` (the template's placeholder) and any other digest ``sha256:…``, so the lines that
differ only because the image moved, which the ``image`` change already shows, drop out, and
what is left is the script's own change. Pure: no I/O.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
FOLDED = "sha256:…"
_CONTEXT = 2  # lines around each change, enough to place it in a boot script


IMAGE = "${IMAGE}"


def fold(script: str, images: Sequence[str] = ()) -> list[str]:
    """The script's lines with its image references (``images``, as written in it) and every
    other digest folded."""
    for image in sorted(images, key=len, reverse=True):  # "repo:tag@…" before "repo@…"
        script = script.replace(image, IMAGE)
    return [_DIGEST.sub(FOLDED, line) for line in script.splitlines()]


@dataclass(frozen=True, slots=True)
class Scripts:
    """Two rendered scripts and the image references written in each, to be folded."""

    old: str
    new: str
    old_images: tuple[str, ...] = ()
    new_images: tuple[str, ...] = ()

    def folded(self) -> tuple[list[str], list[str]]:
        return fold(self.old, self.old_images), fold(self.new, self.new_images)


def unified(scripts: Scripts, *, old_label: str, new_label: str) -> tuple[str, ...]:
    """The unified diff of two scripts with their images folded; () when only the images (or
    only line endings) differ."""
    before, after = scripts.folded()
    return tuple(difflib.unified_diff(before, after, old_label, new_label, n=_CONTEXT, lineterm=""))


def first_difference(scripts: Scripts) -> tuple[int, str, str] | None:
    """(line number, old line, new line) of the first line that differs beyond its images."""
    before, after = scripts.folded()
    for number in range(max(len(before), len(after))):
        a = before[number] if number < len(before) else ""
        b = after[number] if number < len(after) else ""
        if a != b:
            return number + 1, a, b
    return None
