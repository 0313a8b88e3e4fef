"""Blue/green's tags on a side's group, read into ``SideMarks`` and written back as tag values.

The tags are the decision's only memory between ticks, and anyone with console access can edit
them, so reading never raises: a value that does not parse is ``None``, which every rule treats
as "not known" (the safe reading: a pause restarts, a side is not taken as verified).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from reconciler.model import (
    TAG_BG_RETIRED,
    TAG_BG_ROLLOUT,
    TAG_BG_STEP,
    TAG_BG_VERIFIED,
    SideMarks,
)

_AT = "@"


def marks_of(tags: Mapping[str, str], failed_fingerprint: str | None) -> SideMarks:
    """The marks ``tags`` hold. ``failed_fingerprint`` is the fingerprint the side's failed
    marker names (the caller reads ``TAG_FAILED_FINGERPRINT``, whose format ``model.markers``
    owns), or None when the side carries none."""
    fingerprint, rollout_at = _pair(tags.get(TAG_BG_ROLLOUT, ""))
    step_text, step_at = _pair(tags.get(TAG_BG_STEP, ""))
    return SideMarks(
        rollout_fingerprint=fingerprint,
        rollout_at=rollout_at if fingerprint is not None else None,
        step=_index(step_text) if step_at is not None else None,
        step_at=step_at if _index(step_text) is not None else None,
        verified=_text(tags.get(TAG_BG_VERIFIED, "")),
        retired_at=_epoch(tags.get(TAG_BG_RETIRED, "")),
        failed=_text(failed_fingerprint or ""),
    )


def tag_values(marks: SideMarks) -> dict[str, str]:
    """The blue/green tags that record ``marks``; ``""`` for an unset mark (MarkSide deletes
    it). ``failed`` is not among them: FailSide writes the failed marker."""
    rollout = ""
    if marks.rollout_fingerprint is not None and marks.rollout_at is not None:
        rollout = rollout_value(marks.rollout_fingerprint, marks.rollout_at)
    step = ""
    if marks.step is not None and marks.step_at is not None:
        step = step_value(marks.step, marks.step_at)
    return {
        TAG_BG_ROLLOUT: rollout,
        TAG_BG_STEP: step,
        TAG_BG_VERIFIED: marks.verified or "",
        TAG_BG_RETIRED: epoch_value(marks.retired_at) if marks.retired_at is not None else "",
    }


def rollout_value(fingerprint: str, at: float) -> str:
    """TAG_BG_ROLLOUT's value: ``<fingerprint>@<epoch>``."""
    return f"{fingerprint}{_AT}{epoch_value(at)}"


def step_value(index: int, at: float) -> str:
    """TAG_BG_STEP's value: ``<step index>@<epoch>``."""
    return f"{index}{_AT}{epoch_value(at)}"


def epoch_value(at: float) -> str:
    """Epoch seconds as a tag holds them: whole seconds without a fraction, else milliseconds,
    so a value read back is never later than the time it recorded by more than rounding."""
    return str(int(at)) if float(at).is_integer() else f"{at:.3f}"


def _pair(value: str) -> tuple[str | None, float | None]:
    """``<text>@<epoch>`` read: both parts, or (None, None) when either is unreadable."""
    text, separator, at = value.rpartition(_AT)
    epoch = _epoch(at) if separator else None
    if not text.strip() or epoch is None:
        return None, None
    return text.strip(), epoch


def _index(text: str | None) -> int | None:
    if text is None or not text.isdigit() or not text.isascii():
        return None
    return int(text)


def _epoch(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _text(value: str) -> str | None:
    return value.strip() or None
