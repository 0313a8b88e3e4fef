"""Plain-data builders for the rollout analysis tests (``reconciler.pipeline.analysis``).

A rollout starts at ``START`` (10 s into an aligned minute, as a refresh's StartTime is). Its
first new instance goes InService at ``IN_SERVICE``; with the target group's 2 x 30 s healthy
threshold it can take traffic at ``TRAFFIC``, an aligned minute, so sample ``k`` covers
``[TRAFFIC + 60 k, TRAFFIC + 60 (k + 1))``. Metric rows are written as letters:

- ``P`` a healthy sample: 600 requests, no 5xx, p99 0.2 s;
- ``F`` a failing one: 600 requests, 180 5xx (30%), p99 3 s;
- ``L`` low traffic: 12 requests; ``N`` no data point at all (the period is missing);
- ``E`` at exactly the 5xx limit, ``X`` just above it (default spec, baseline below);
- ``Q`` requests but no p99 (latency inconclusive, 5xx healthy).

The default baseline is 30 minutes of 500 requests with 1 5xx (0.2%) and a p99 of 0.21 s, so
the default limits are 2.2% (0.2% + 2 points, under the 5% maximum) and 0.42 s (2 x 0.21 s,
under the 2 s maximum).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from reconciler.model.analysis import (
    AnalysisInputs,
    AnalysisSpec,
    ErrorRateSpec,
    InstanceHistory,
    LatencySpec,
    MetricPoint,
)

MINUTE = 60
START = 1_700_000_040 + 10  # 1_700_000_040 is a multiple of 60
IN_SERVICE = 1_700_000_040 + 2 * MINUTE
TRAFFIC = IN_SERVICE + 2 * 30
DESIRED = "7"
GRACE = 300

BASELINE_RATE = 0.002
BASELINE_P99 = 0.21
LIMIT_RATE = BASELINE_RATE + 0.02  # 0.022

ROWS: dict[str, tuple[float | None, float | None, float | None]] = {
    "P": (600, None, 0.2),  # ALB publishes no 5xx count for a period without 5xx
    "F": (600, 180, 3.0),
    "L": (12, 0, 0.2),
    "E": (1000, 22, 0.2),  # 2.2%: at the limit, not above it
    "X": (1000, 23, 0.2),
    "Q": (600, 0, None),
}


def spec(**fields: Any) -> AnalysisSpec:
    """The default spec with ``fields`` replaced; ``error_rate=`` / ``latency=`` take dicts."""
    error = fields.pop("error_rate", {})
    latency = fields.pop("latency", {})
    return AnalysisSpec(
        error_rate=ErrorRateSpec(**error), latency_p99=LatencySpec(**latency), **fields
    )


def new_instance(
    instance_id: str = "i-new1", in_service_at: float | None = IN_SERVICE, **fields: Any
) -> InstanceHistory:
    """An instance the rollout launched a minute before it went InService."""
    launched = fields.pop("launched_at", None if in_service_at is None else in_service_at - 60)
    fields.setdefault("version", DESIRED)
    fields.setdefault("target_state", "healthy")
    return InstanceHistory(instance_id, launched, in_service_at, **fields)


def old_instance(instance_id: str = "i-old1") -> InstanceHistory:
    return InstanceHistory(instance_id, START - 86400, START - 86300, version="6")


def baseline(
    minutes: int = 30, requests: float = 500, errors: float = 1, p99: float = BASELINE_P99
) -> tuple[MetricPoint, ...]:
    first = 1_700_000_040 - minutes * MINUTE
    return tuple(MetricPoint(first + k * MINUTE, requests, errors, p99) for k in range(minutes))


def rows(letters: str, first: float = TRAFFIC) -> tuple[MetricPoint, ...]:
    """Consecutive sample points from ``first``, one per letter; ``N`` leaves its period out."""
    points = []
    for k, letter in enumerate(letters):
        if letter != "N":
            points.append(MetricPoint(first + k * MINUTE, *ROWS[letter]))
    return tuple(points)


def inputs(letters: str = "", **fields: Any) -> AnalysisInputs:
    """A rollout observed 1 s after its ``len(letters)``-th sample ended (at least after the
    grace period of its one new instance, unless ``observed_at`` says otherwise)."""
    fields.setdefault("observed_at", TRAFFIC + len(letters) * MINUTE + 1)
    fields.setdefault("instances", (old_instance(), new_instance()))
    fields.setdefault("baseline", baseline())
    fields.setdefault("points", rows(letters))
    base = AnalysisInputs(
        observed_at=fields.pop("observed_at"),
        rollout_start=START,
        desired_version=DESIRED,
        grace_period=GRACE,
        health_check_interval=30,
        healthy_threshold=2,
    )
    return dataclasses.replace(base, **fields)
