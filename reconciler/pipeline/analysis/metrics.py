"""The metric signals, ``errorRate`` and ``latencyP99``: the target group's samples against its
own baseline from before the rollout and an absolute limit.

Rules (the product's documented semantics):

4. The samples are the periods ``window.sample_starts`` selects (at least half after the
   traffic start, ended by ``min(observed_at, rollout_end)``); a period missing from
   ``inputs.points`` is a point without data, as ALB publishes nothing for a period without
   requests (aws-facts 6). A sample is INCONCLUSIVE with fewer than ``min_requests``
   requests or no data ("12 requests (< 50)", "no data"), and for latency also without a p99.
   The error rate is ``(errors or 0) / requests`` (a missing 5xx count with requests present is
   zero, aws-facts 6). Baselines: the error rate is ``sum(errors) / sum(requests)`` over the
   baseline points with data, ``None`` below ``min_requests`` in all; the p99 is the median of
   the p99 of the points with at least ``min_requests`` requests, ``None`` if there are none.
   Thresholds: the 5xx rate's is the lowest of ``max`` and ``baseline + max_increase``, the
   p99's the lowest of ``max`` and ``baseline * max_ratio``, over those that are known. With
   neither known (or ``enabled: false``) the signal is off, absent from the result, unless the
   metrics could not be read: then it is INCONCLUSIVE, since the missing baseline may be the
   error's doing and missing data never passes. A sample FAILs when its value is strictly
   above the threshold, else PASSes.
5. The signal's verdict walks the samples in time order with a streak of consecutive FAILs:
   an inconclusive sample neither extends nor resets it, a PASS resets it. FAIL if the streak
   ever reached ``failure_limit``: a rollout that failed never un-fails, whatever came after.
   Otherwise INCONCLUSIVE if the metrics could not be read (naming the error; the samples
   read before are still reported), PENDING while there is no sample yet or the current streak
   is above zero, PASS when at least ``failure_limit`` samples are conclusive, else
   INCONCLUSIVE: too little traffic is never a pass. The value a message shows is the mean of
   the failing streak's values for a FAIL, of the conclusive samples' values otherwise.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.model.analysis import (
    AnalysisInputs,
    AnalysisSpec,
    MetricPoint,
    Sample,
    Signal,
    SignalResult,
    Verdict,
)
from reconciler.pipeline.analysis import window
from reconciler.pipeline.analysis.text import count, percent, plural, seconds


@dataclass(frozen=True, slots=True)
class _Metric:
    """How one metric signal reads a point and speaks of its values."""

    signal: Signal
    label: str
    show: Callable[[float], str]
    needs_p99: bool


_ERROR_RATE = _Metric(Signal.ERROR_RATE, "5xx rate", percent, needs_p99=False)
_LATENCY = _Metric(Signal.LATENCY_P99, "p99", seconds, needs_p99=True)


def baseline_error_rate(spec: AnalysisSpec, points: Sequence[MetricPoint]) -> float | None:
    """``sum(errors) / sum(requests)`` over the points with data; ``None`` below min_requests."""
    with_data = [p for p in points if p.requests is not None]
    requests = sum(p.requests or 0.0 for p in with_data)
    if requests < spec.min_requests or requests <= 0:
        return None
    return sum(p.errors or 0.0 for p in with_data) / requests


def baseline_p99(spec: AnalysisSpec, points: Sequence[MetricPoint]) -> float | None:
    """The median p99 of the points with at least min_requests requests; ``None`` if none."""
    values = [p.p99 for p in points if _enough(spec, p.requests) and p.p99 is not None]
    return statistics.median(values) if values else None


def error_threshold(spec: AnalysisSpec, baseline: float | None) -> float | None:
    """The lowest of ``max`` and ``baseline + max_increase`` that is known."""
    limits = [spec.error_rate.max]
    if baseline is not None and spec.error_rate.max_increase is not None:
        limits.append(baseline + spec.error_rate.max_increase)
    return min((x for x in limits if x is not None), default=None)


def latency_threshold(spec: AnalysisSpec, baseline: float | None) -> float | None:
    """The lowest of ``max`` and ``baseline * max_ratio`` that is known."""
    limits = [spec.latency_p99.max]
    if baseline is not None and spec.latency_p99.max_ratio is not None:
        limits.append(baseline * spec.latency_p99.max_ratio)
    return min((x for x in limits if x is not None), default=None)


def _enough(spec: AnalysisSpec, requests: float | None) -> bool:
    return requests is not None and requests > 0 and requests >= spec.min_requests


def sample(metric: _Metric, spec: AnalysisSpec, point: MetricPoint, threshold: float) -> Sample:
    """One period judged against ``threshold`` (strictly above fails)."""
    end = point.start + spec.interval
    requests = point.requests
    if requests is None:
        return Sample(point.start, end, Verdict.INCONCLUSIVE, threshold=threshold, note="no data")
    value = point.p99 if metric.needs_p99 else _rate(point)
    note = ""
    if requests <= 0:
        note = "no requests"
    elif not _enough(spec, requests):
        note = f"{count(requests)} requests (< {spec.min_requests})"
    elif value is None:
        note = "no p99"
    if note:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.FAIL if value is not None and value > threshold else Verdict.PASS
    return Sample(point.start, end, verdict, value, threshold, requests, note)


def _rate(point: MetricPoint) -> float | None:
    if not point.requests:
        return None
    return (point.errors or 0.0) / point.requests


def samples(
    metric: _Metric, spec: AnalysisSpec, inputs: AnalysisInputs, *, traffic: float, threshold: float
) -> tuple[Sample, ...]:
    """Every sample period, judged, oldest first; a period CloudWatch left out has no data."""
    by_start = {round(p.start): p for p in inputs.points}
    starts = window.sample_starts(spec, traffic_start=traffic, until=window.sample_limit(inputs))
    points = (by_start.get(start, MetricPoint(start=start)) for start in starts)
    return tuple(sample(metric, spec, point, threshold) for point in points)


def streaks(judged: Sequence[Sample], limit: int) -> tuple[tuple[Sample, ...], tuple[Sample, ...]]:
    """(the first streak of FAILs that reached ``limit``, whole, or ``()``; the current streak).

    Inconclusive samples neither extend nor reset a streak; a PASS resets it.
    """
    current: list[Sample] = []
    reached: list[Sample] | None = None
    for one in judged:
        if one.verdict is Verdict.FAIL:
            current.append(one)
            if reached is None and len(current) >= limit:
                reached = current  # the same list: it keeps growing until the streak ends
        elif one.verdict is Verdict.PASS:
            current = []
    return tuple(reached or ()), tuple(current)


@dataclass(frozen=True, slots=True)
class _Judged:
    """One metric signal's samples with the numbers its messages quote."""

    metric: _Metric
    samples: tuple[Sample, ...]
    baseline: float | None
    threshold: float


def _summary(judged: _Judged, among: Sequence[Sample]) -> str:
    """ "5xx rate 31% over 2 samples (baseline 0.2%, limit 5%)": the mean of ``among``."""
    show = judged.metric.show
    mean = statistics.fmean(s.value for s in among if s.value is not None)
    baseline = "none" if judged.baseline is None else show(judged.baseline)
    return (
        f"{judged.metric.label} {show(mean)} over {plural(len(among), 'sample')}"
        f" (baseline {baseline}, limit {show(judged.threshold)})"
    )


def conclude(spec: AnalysisSpec, inputs: AnalysisInputs, judged: _Judged) -> SignalResult:
    """The signal's verdict from its samples (rule 5)."""
    label, all_samples = judged.metric.label, judged.samples
    failing, current = streaks(all_samples, spec.failure_limit)
    conclusive = [s for s in all_samples if s.verdict is not Verdict.INCONCLUSIVE]
    if failing:
        return _result(judged, Verdict.FAIL, _summary(judged, failing))
    if inputs.metrics_error:
        message = f"{label} inconclusive: metrics unreadable ({inputs.metrics_error})"
        return _result(judged, Verdict.INCONCLUSIVE, message)
    if not all_samples:
        return _result(judged, Verdict.PENDING, f"{label} pending: no complete sample yet")
    if current:
        left = spec.failure_limit - len(current)
        more = f"{plural(left, 'more failing sample')} {'fails' if left == 1 else 'fail'}"
        message = f"{_summary(judged, current)}: {more} the rollout"
        return _result(judged, Verdict.PENDING, message)
    if len(conclusive) >= spec.failure_limit:
        return _result(judged, Verdict.PASS, _summary(judged, conclusive))
    needs = f"at least {spec.min_requests} requests" + (
        " and a p99" if judged.metric.needs_p99 else ""
    )
    message = f"{label} inconclusive: {len(conclusive)} of {len(all_samples)} samples had {needs}"
    return _result(judged, Verdict.INCONCLUSIVE, message)


def _result(judged: _Judged, verdict: Verdict, message: str) -> SignalResult:
    return SignalResult(
        signal=judged.metric.signal,
        verdict=verdict,
        message=message,
        samples=judged.samples,
        baseline=judged.baseline,
    )


def _judge(
    metric: _Metric,
    spec: AnalysisSpec,
    inputs: AnalysisInputs,
    *,
    traffic: float | None,
    baseline: float | None,
    threshold: float | None,
) -> SignalResult | None:
    if threshold is None:
        if not inputs.metrics_error:
            return None  # no comparison is possible: the signal is off
        message = f"{metric.label} inconclusive: metrics unreadable ({inputs.metrics_error})"
        return SignalResult(metric.signal, Verdict.INCONCLUSIVE, message, baseline=baseline)
    if traffic is None and not inputs.metrics_error:
        message = f"{metric.label} pending: no new instance takes traffic yet"
        return SignalResult(metric.signal, Verdict.PENDING, message, baseline=baseline)
    found = (
        ()
        if traffic is None
        else samples(metric, spec, inputs, traffic=traffic, threshold=threshold)
    )
    return conclude(spec, inputs, _Judged(metric, found, baseline, threshold))


def judge_error_rate(
    spec: AnalysisSpec, inputs: AnalysisInputs, *, traffic: float | None
) -> SignalResult | None:
    """The ``errorRate`` signal, or ``None`` when it is off (rules 4 and 5)."""
    if not spec.error_rate.enabled:
        return None
    baseline = baseline_error_rate(spec, inputs.baseline)
    threshold = error_threshold(spec, baseline)
    return _judge(
        _ERROR_RATE, spec, inputs, traffic=traffic, baseline=baseline, threshold=threshold
    )


def judge_latency(
    spec: AnalysisSpec, inputs: AnalysisInputs, *, traffic: float | None
) -> SignalResult | None:
    """The ``latencyP99`` signal, or ``None`` when it is off (rules 4 and 5)."""
    if not spec.latency_p99.enabled:
        return None
    baseline = baseline_p99(spec, inputs.baseline)
    threshold = latency_threshold(spec, baseline)
    return _judge(_LATENCY, spec, inputs, traffic=traffic, baseline=baseline, threshold=threshold)
