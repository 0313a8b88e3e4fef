"""A rollout's analysis as text for people: the verdict, each signal, and its samples.

Pure rendering of an ``AnalysisResult``; ``reconciler status`` and ``apply --wait`` print it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.model import AnalysisResult, Sample, Signal, SignalResult

SAMPLES_SHOWN = 6  # the newest; /status has them all
_RATE_SIGNALS = frozenset({Signal.ERROR_RATE})
_SECONDS_SIGNALS = frozenset({Signal.LATENCY_P99})


def analysis_lines(result: AnalysisResult) -> list[str]:
    lines = [f"  analysis:       {result.verdict.value}: {result.message}"]
    width = max((len(s.signal.value) for s in result.signals), default=0)
    for signal in result.signals:
        lines.append(
            f"    {signal.signal.value:<{width}}  {signal.verdict.value:<12}  {signal.message}"
        )
        lines.extend(_sample_lines(signal))
    return lines


def _sample_lines(signal: SignalResult) -> list[str]:
    return [f"      {_sample_text(signal.signal, s)}" for s in signal.samples[-SAMPLES_SHOWN:]]


def _sample_text(signal: Signal, sample: Sample) -> str:
    when = datetime.fromtimestamp(sample.start, UTC).strftime("%H:%M")
    value = _value(signal, sample.value)
    limit = _value(signal, sample.threshold)
    text = f"{when}  {value:>8}  limit {limit:>8}  {sample.verdict.value:<12}"
    text += f"  {sample.requests:.0f} requests"
    return f"{text}  ({sample.note})" if sample.note else text


def _value(signal: Signal, value: float | None) -> str:
    if value is None:
        return "-"
    if signal in _RATE_SIGNALS:
        return f"{value * 100:.1f}%"
    if signal in _SECONDS_SIGNALS:
        return f"{value:.2f} s"
    return f"{value:g}"
