"""Time ranges of an analysis: which CloudWatch periods to fetch and which of them are samples.

Periods are ``spec.interval`` seconds long and aligned to multiples of it in epoch seconds, as
CloudWatch returns them for an aligned StartTime and ``Period = interval`` (ALB metrics have
60-second resolution, aws-facts 6, so the interval is a multiple of 60).

- ``metric_range``: ``[start, end)`` from the period holding the rollout's start to the end of
  the last period complete at ``until``.
- ``baseline_range``: the ``baseline_window`` before the rollout, ending at the start of the
  period holding the rollout's start, so no rollout traffic enters the baseline.
- ``sample_starts``: a period is a sample when at least half of it lies after the traffic
  start and it ends at or before ``min(observed_at, rollout_end)``: a period mostly before the
  new instances took traffic says little about them, and one still running is incomplete.
- ``next_sample_at``: the end of the first period after the last complete one; ``None`` once
  the rollout has ended, since nothing more is sampled.
"""

from __future__ import annotations

import math

from reconciler.model.analysis import AnalysisInputs, AnalysisSpec


def align_down(moment: float, interval: int) -> int:
    """The start of the period holding ``moment``."""
    return math.floor(moment / interval) * interval


def metric_range(spec: AnalysisSpec, *, rollout_start: float, until: float) -> tuple[float, float]:
    """``[start, end)`` of the points to fetch with ``Period = spec.interval``, both aligned.

    ``end`` is the end of the last period complete at ``until`` (never before ``start``).
    """
    start = align_down(rollout_start, spec.interval)
    return start, max(start, align_down(until, spec.interval))


def baseline_range(spec: AnalysisSpec, *, rollout_start: float) -> tuple[float, float]:
    """``[rollout_start - baseline_window, rollout_start)``, both ends aligned down."""
    end = align_down(rollout_start, spec.interval)
    return align_down(rollout_start - spec.baseline_window, spec.interval), end


def sample_limit(inputs: AnalysisInputs) -> float:
    """The moment after which no period counts: now, or the rollout's end if earlier."""
    if inputs.rollout_end is None:
        return inputs.observed_at
    return min(inputs.observed_at, inputs.rollout_end)


def sample_starts(spec: AnalysisSpec, *, traffic_start: float, until: float) -> tuple[int, ...]:
    """The starts of the sample periods: at least half after ``traffic_start``, ended by
    ``until``. ``start >= traffic_start - interval / 2`` is the "at least half" condition."""
    interval = spec.interval
    first = math.ceil((traffic_start - interval / 2) / interval) * interval
    last = align_down(until, interval) - interval  # the last period that has ended
    return tuple(range(first, last + 1, interval)) if last >= first else ()


def next_sample_at(spec: AnalysisSpec, inputs: AnalysisInputs) -> float | None:
    """When the next period completes; ``None`` once ``rollout_end`` is set."""
    if inputs.rollout_end is not None:
        return None
    return align_down(inputs.observed_at, spec.interval) + spec.interval
