"""A service's status turned into what the page shows: plain data, computed here so the page's
script only lays it out (and so every rule is tested without a browser).

Each condition gets a ``tone`` (ok, busy, bad, off) that the page colours *and* spells out; the
live rollout becomes one progress bar (a refresh's percentage with its checkpoints, or blue/green
traffic with its steps); the analysis becomes rows of samples against their thresholds; the diff
becomes rows of field, old and new.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.model import AnalysisResult, Change, Condition, Signal
from reconciler.pipeline.status import ServiceStatus

# A condition that holds, by type: how it reads. One that does not hold is "off".
_TONE_WHEN_TRUE = {"Ready": "ok", "Progressing": "busy", "Degraded": "bad", "Stalled": "bad"}
# The one word a service is summed up by, most urgent first.
_HEADLINE_ORDER = ("Stalled", "Degraded", "Progressing", "Ready")


def tone(condition: Condition) -> str:
    return _TONE_WHEN_TRUE.get(condition.type, "busy") if condition.status else "off"


def conditions_view(conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    return [
        {
            "type": c.type,
            "status": c.status,
            "word": c.type if c.status else f"not {c.type}",
            "reason": c.reason,
            "message": c.message,
            "since": c.last_transition_time,
            "tone": tone(c),
        }
        for c in conditions
    ]


def headline(conditions: Sequence[Condition]) -> dict[str, str]:
    """The service in one word: the most urgent condition that holds, else OutOfSync."""
    holding = {c.type: c for c in conditions if c.status}
    for kind in _HEADLINE_ORDER:
        if kind in holding:
            found = holding[kind]
            return {"word": kind, "tone": tone(found), "reason": found.reason}
    ready = next((c for c in conditions if c.type == "Ready"), None)
    return {"word": "OutOfSync", "tone": "busy", "reason": ready.reason if ready else ""}


def progress_view(status: ServiceStatus) -> dict[str, Any] | None:
    """The live rollout as one bar: blue/green's traffic on the target side with its steps, or
    the refresh's percentage with its checkpoints. None when nothing rolls out."""
    sides = status.blue_green
    if sides is not None:
        target = next(s for s in sides.sides if s.color == sides.target)
        step = f"step {sides.step} of {len(sides.steps)}" if sides.step is not None else ""
        return {
            "kind": "traffic",
            "percent": target.weight,
            "label": f"{target.weight}% of traffic on {target.color}"
            + (f", {step}" if step else "")
            + f" ({sides.stage})",
            "marks": _marks(sides.steps, target.weight),
        }
    refresh = status.refresh
    if refresh is None:
        return None
    percent = max(0, min(100, refresh.percentage_complete))
    return {
        "kind": "refresh",
        "percent": percent,
        "label": f"refresh {refresh.status_text}: {percent}% of instances replaced",
        "marks": _marks(refresh.checkpoint_percentages, percent),
    }


def _marks(points: Sequence[int], reached: int) -> list[dict[str, Any]]:
    return [{"at": p, "label": f"{p}%", "reached": reached >= p} for p in points]


def weights_view(status: ServiceStatus) -> list[dict[str, Any]]:
    """Blue/green: each side's share of the traffic, its health and revision; [] otherwise."""
    sides = status.blue_green
    if sides is None:
        return []
    return [
        {
            "color": s.color,
            "weight": s.weight,
            "live": s.color == sides.live,
            "target": s.color == sides.target,
            "healthy": f"{s.healthy}/{s.desired} healthy",
            "revision": short(s.revision),
            "image": s.image or "",
        }
        for s in sides.sides
    ]


def analysis_view(analysis: AnalysisResult | None) -> dict[str, Any] | None:
    """Each signal's verdict and message, and its samples: value against threshold."""
    if analysis is None:
        return None
    return {
        "verdict": analysis.verdict.value,
        "message": analysis.message,
        "signals": [
            {
                "signal": s.signal.value,
                "verdict": s.verdict.value,
                "message": s.message,
                "samples": [
                    {
                        "value": measure(s.signal, sample.value),
                        "threshold": measure(s.signal, sample.threshold),
                        "over": _over(sample.value, sample.threshold),
                        "verdict": sample.verdict.value,
                        "requests": round(sample.requests),
                        "note": sample.note,
                    }
                    for sample in s.samples
                ],
            }
            for s in analysis.signals
        ],
    }


def measure(signal: Signal, value: float | None) -> str:
    """A sample's value as it reads: a rate in percent, a p99 in seconds, a count as is."""
    if value is None:
        return "no data"
    if signal is Signal.ERROR_RATE:
        return f"{value * 100:.1f}%"
    if signal is Signal.LATENCY_P99:
        return f"{value:.2f} s"
    return f"{value:g}"


def _over(value: float | None, threshold: float | None) -> bool:
    return value is not None and threshold is not None and value > threshold


def changes_view(changes: Sequence[Change]) -> list[dict[str, str]]:
    """The current diff, one row per field that differs."""
    return [
        {
            "resource": f"{c.resource.value} {c.resource_name}",
            "field": c.field,
            "kind": c.kind.value,
            "old": _value(c.old),
            "new": _value(c.new),
        }
        for c in changes
    ]


def _value(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, tuple):
        return ", ".join(_value(v) for v in value) or "(empty)"
    return str(value)


def not_in_sync(status: ServiceStatus, *, changes: int) -> str:
    """Why the service is not in sync, in words; "" when it is."""
    ready = next((c for c in status.conditions if c.type == "Ready"), None)
    if ready is None or ready.status:
        return ""
    held = next((c for c in status.conditions if c.type != "Ready" and c.status), None)
    if held is not None and held.message:
        return f"{held.type} ({held.reason}): {held.message}"
    if changes:
        return f"{changes} field(s) differ from the desired state"
    return ready.reason


def short(revision: str | None) -> str:
    return revision[:12] if revision else ""
