"""Rollout analysis: what desired.yaml asks of a rollout (``AnalysisSpec``), what AWS and
CloudWatch said about it (``AnalysisInputs``), and the judgement (``AnalysisResult``).

The judgement is a pure function of the inputs (``reconciler.pipeline.analysis``), so a daemon
that restarts mid-rollout reaches the same verdict from what AWS and CloudWatch still hold:
nothing about an analysis lives only in memory. Times are epoch seconds (UTC).

Signals, each with its own verdict:

- ``newInstances``: instances launched by the rollout that fail their health checks after the
  group's grace period (AWS would otherwise retry them for an hour, aws-facts 1.5);
- ``errorRate``: the target group's ``HTTPCode_Target_5XX_Count / RequestCount`` per sample;
- ``latencyP99``: the target group's ``TargetResponseTime`` p99 per sample;
- ``alarms``: the CloudWatch alarms named in ``rollout.alarms``, any in ALARM fails.

A metric sample with fewer than ``min_requests`` requests, or no data, is *inconclusive*: it is
reported and never counts as a pass.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ErrorRateSpec:
    """5xx rate limits. A sample fails above ``max`` or above the baseline plus ``max_increase``
    (both rates in 0-1); ``None`` turns that comparison off."""

    enabled: bool = True
    max: float | None = 0.05
    max_increase: float | None = 0.02


@dataclass(frozen=True, slots=True)
class LatencySpec:
    """p99 latency limits, in seconds. A sample fails above ``max`` or above the baseline
    times ``max_ratio``; ``None`` turns that comparison off."""

    enabled: bool = True
    max: float | None = 2.0
    max_ratio: float | None = 2.0


@dataclass(frozen=True, slots=True)
class AnalysisSpec:
    """``spec.rollout.analysis``. On by default: every rollout is judged."""

    enabled: bool = True
    interval: int = 60  # seconds per metric sample; a multiple of 60 (ALB metric resolution)
    failure_limit: int = 2  # consecutive failing samples before a metric signal fails
    min_requests: int = 50  # a sample with fewer requests is inconclusive
    baseline_window: int = 1800  # seconds before the rollout that make the baseline
    unhealthy_instances: int = 2  # new instances failing health checks after grace
    error_rate: ErrorRateSpec = field(default_factory=ErrorRateSpec)
    latency_p99: LatencySpec = field(default_factory=LatencySpec)


class Verdict(enum.StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"  # no conclusive data: never a pass
    PENDING = "Pending"  # nothing to judge yet (no new instance takes traffic yet)


class Signal(enum.StrEnum):
    NEW_INSTANCES = "newInstances"
    ERROR_RATE = "errorRate"
    LATENCY_P99 = "latencyP99"
    ALARMS = "alarms"


# ------------------------------------------------------------------------------------------------
# Inputs: what observe reads for a service whose rollout is under way
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One period of the target group's ALB metrics in CloudWatch, starting at ``start``.

    ``None`` is "no data point": ALB publishes nothing for a period without requests, and no
    ``HTTPCode_Target_5XX_Count`` for a period without 5xx (aws-facts 6), so missing errors
    with requests present mean zero errors, and missing requests mean no traffic.
    """

    start: float
    requests: float | None = None  # RequestCount, Sum
    errors: float | None = None  # HTTPCode_Target_5XX_Count, Sum
    p99: float | None = None  # TargetResponseTime, p99, seconds


@dataclass(frozen=True, slots=True)
class InstanceHistory:
    """One instance of the group as Auto Scaling's activities (and the group) describe it.

    ``in_service_at`` is when its launch activity ended (the instance went InService and was
    registered with the target groups); ``health_terminated`` says that Auto Scaling took it
    out of service for failing a health check. ``target_state`` / ``target_reason`` are the
    target group's current view of it ("" when it is not registered).
    """

    instance_id: str
    launched_at: float | None = None
    in_service_at: float | None = None
    terminated_at: float | None = None
    health_terminated: bool = False
    version: str | None = None  # launch template version, while the group still lists it
    target_state: str = ""  # healthy | unhealthy | initial | draining | unused | ""
    target_reason: str = ""  # e.g. Target.ResponseCodeMismatch


@dataclass(frozen=True, slots=True)
class AnalysisInputs:
    """Everything the judgement reads, gathered at ``observed_at``.

    An ``*_error`` names a source that could not be read (throttled, unreachable, denied): its
    signal is inconclusive, and the reconciler never declares success on it.
    """

    observed_at: float
    rollout_start: float  # the refresh's StartTime
    rollout_end: float | None = None  # EndTime, or the rollback's start; None while it runs
    desired_version: str | None = None  # the launch template version the rollout brings
    grace_period: int = 0  # the group's HealthCheckGracePeriod, seconds
    health_check_interval: int = 30  # the target group's, seconds
    healthy_threshold: int = 5  # the target group's HealthyThresholdCount
    points: tuple[MetricPoint, ...] = ()  # period = the spec's interval, oldest first
    baseline: tuple[MetricPoint, ...] = ()  # the same, over the baseline window
    metrics_error: str = ""
    instances: tuple[InstanceHistory, ...] = ()
    activities_error: str = ""
    alarms: Mapping[str, str] = field(default_factory=dict)  # name → StateValue
    alarms_error: str = ""


# ------------------------------------------------------------------------------------------------
# The judgement
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One judged sample of one signal: its value against its threshold."""

    start: float
    end: float
    verdict: Verdict
    value: float | None = None  # the rate (0-1) or the p99 (s); None when there was no data
    threshold: float | None = None  # the limit that applied: min(max, baseline-derived)
    requests: float = 0.0
    note: str = ""  # why inconclusive, e.g. "12 requests (< 50)"


@dataclass(frozen=True, slots=True)
class SignalResult:
    signal: Signal
    verdict: Verdict
    message: str  # e.g. "5xx rate 31% over 2 samples (baseline 0.2%, limit 5%)"
    samples: tuple[Sample, ...] = ()
    baseline: float | None = None


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """The rollout's verdict: FAIL if any signal fails; PASS only when every enabled signal
    passes; otherwise INCONCLUSIVE or PENDING. ``message`` leads with the failing signal."""

    verdict: Verdict
    signals: tuple[SignalResult, ...]
    message: str
    traffic_start: float | None = None  # when the first new instance could take traffic
    next_sample_at: float | None = None  # when the next metric sample completes

    def signal(self, signal: Signal) -> SignalResult | None:
        return next((s for s in self.signals if s.signal is signal), None)
