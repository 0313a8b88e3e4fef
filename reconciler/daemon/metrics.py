"""Prometheus metrics for the daemon, in a registry of its own (nothing process-global).

Names and labels::

    reconciler_reconcile_total{service,result}             passes per service and result
    reconciler_reconcile_duration_seconds{service,result}  batched compute + the service's apply
    reconciler_drift_changes{service}                      changes the last pass found (0 = in sync)
    reconciler_drift_detected_total{service}               passes that found at least one change
    reconciler_rollout_phase{service,reconciler_rollout_phase}  1 for the current phase
    reconciler_rollout_percentage{service}                 the refresh in flight, 100 when in sync
    reconciler_analysis_verdict{service,signal,reconciler_analysis_verdict}  1 for the verdict
    reconciler_analysis_sample{service,signal}             the newest judged sample's value
    reconciler_analysis_stops_total{service}               rollouts the analysis stopped
    reconciler_applied_revision_info{service,revision,launch_template_version,image}
    reconciler_desired_revision_info{revision,last_good_revision}
    reconciler_desired_valid                               0 while the newest commit is refused
    reconciler_aws_api_calls_total{service,operation}      every AWS API call (Aws.on_call)
    reconciler_git_fetch_duration_seconds                  fetches, failed ones included
    reconciler_git_fetch_errors_total
    reconciler_lease_held                                  1 on the instance that may write
    reconciler_webhook_requests_total{result}

``result`` is one of ``RESULTS``.
"""

from __future__ import annotations

import contextlib

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from reconciler.model import AnalysisResult, Phase, Stage, Verdict

RESULTS = ("applied", "in_sync", "pending", "standby", "temporary_error", "permanent_error")
# Phases the diff reports, plus "Error" for a pass that stopped before its diff.
PHASES = [p.value for p in Phase] + ["Error"]
VERDICTS = [v.value for v in Verdict]
STAGES = [s.value for s in Stage]
OVERALL = "rollout"  # the ``signal`` label of the rollout's own verdict
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """The daemon's metrics; ``render()`` is what ``/metrics`` serves."""

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._define_pass_metrics(self.registry)
        self._define_daemon_metrics(self.registry)
        self.desired_valid.set(1)

    def _define_pass_metrics(self, r: CollectorRegistry) -> None:
        """What each service's passes found and did."""
        self.reconciles = Counter(
            "reconciler_reconcile", "Reconcile passes.", ["service", "result"], registry=r
        )
        self.reconcile_seconds = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Time of a pass: the batched compute plus the service's own apply.",
            ["service", "result"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.drift = Gauge(
            "reconciler_drift_changes", "Changes the last pass found.", ["service"], registry=r
        )
        self.drift_detected = Counter(
            "reconciler_drift_detected", "Passes that found changes.", ["service"], registry=r
        )
        self.phase = Enum(
            "reconciler_rollout_phase", "Rollout phase.", ["service"], states=PHASES, registry=r
        )
        self.percentage = Gauge(
            "reconciler_rollout_percentage", "Refresh progress.", ["service"], registry=r
        )
        self.applied = Info(
            "reconciler_applied_revision", "What each group runs.", ["service"], registry=r
        )
        self._define_analysis_metrics(r)
        self._define_blue_green_metrics(r)

    def _define_blue_green_metrics(self, r: CollectorRegistry) -> None:
        """Blue/green: each side's share of the traffic, and the rollout's stage."""
        self.weight = Gauge(
            "reconciler_traffic_weight_percent",
            "A blue/green side's share of the listener's traffic, in percent.",
            ["service", "side"],
            registry=r,
        )
        self.stage = Enum(
            "reconciler_blue_green_stage",
            "Where a blue/green rollout stands.",
            ["service"],
            states=STAGES,
            registry=r,
        )

    def _define_analysis_metrics(self, r: CollectorRegistry) -> None:
        """The rollout analysis: verdicts by signal, the newest samples, the stops."""
        self.verdict = Enum(
            "reconciler_analysis_verdict",
            "Rollout analysis verdict, by signal (signal=rollout: the whole rollout).",
            ["service", "signal"],
            states=VERDICTS,
            registry=r,
        )
        self.sample = Gauge(
            "reconciler_analysis_sample",
            "The newest judged sample: a 5xx rate (0-1) or a p99 in seconds.",
            ["service", "signal"],
            registry=r,
        )
        self.stops = Counter(
            "reconciler_analysis_stops",
            "Rollouts the analysis stopped (rolled back or cancelled).",
            ["service"],
            registry=r,
        )

    def _define_daemon_metrics(self, r: CollectorRegistry) -> None:
        """The daemon's own inputs and outputs: revisions, AWS calls, fetches, lease, webhook."""
        self.desired = Info("reconciler_desired_revision", "Newest and last good.", registry=r)
        self.desired_valid = Gauge(
            "reconciler_desired_valid", "0 while the newest commit is refused.", registry=r
        )
        self.aws_calls = Counter(
            "reconciler_aws_api_calls", "AWS API calls.", ["service", "operation"], registry=r
        )
        self.fetch_seconds = Histogram(
            "reconciler_git_fetch_duration_seconds",
            "git fetch time.",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.fetch_errors = Counter("reconciler_git_fetch_errors", "Failed fetches.", registry=r)
        self.lease_held = Gauge("reconciler_lease_held", "1 while this instance leads.", registry=r)
        self.webhooks = Counter(
            "reconciler_webhook_requests", "Webhook requests.", ["result"], registry=r
        )

    # -- recorders ---------------------------------------------------------------------------

    def aws_call(self, service: str, operation: str) -> None:
        """An ``Aws.on_call`` hook."""
        self.aws_calls.labels(service=service, operation=operation).inc()

    def fetched(self, *, seconds: float, ok: bool) -> None:
        self.fetch_seconds.observe(seconds)
        if not ok:
            self.fetch_errors.inc()

    def reconciled(
        self,
        *,
        service: str,
        result: str,
        seconds: float,
        changes: int,
        phase: str,
        percentage: int | None,
    ) -> None:
        self.reconciles.labels(service=service, result=result).inc()
        self.reconcile_seconds.labels(service=service, result=result).observe(seconds)
        self.drift.labels(service=service).set(changes)
        if changes:
            self.drift_detected.labels(service=service).inc()
        self.phase.labels(service=service).state(phase if phase in PHASES else "Error")
        if percentage is not None:
            self.percentage.labels(service=service).set(percentage)

    def applied_revision(
        self, *, service: str, revision: str | None, version: int | None, image: str | None
    ) -> None:
        self.applied.labels(service=service).info(
            {
                "revision": revision or "",
                "launch_template_version": "" if version is None else str(version),
                "image": image or "",
            }
        )

    def desired_revision(self, *, revision: str | None, last_good: str | None, valid: bool) -> None:
        self.desired.info({"revision": revision or "", "last_good_revision": last_good or ""})
        self.desired_valid.set(1 if valid else 0)

    def analysed(self, *, service: str, result: AnalysisResult | None, stopped: bool) -> None:
        if stopped:
            self.stops.labels(service=service).inc()
        if result is None:  # no rollout is being judged: no verdict to report
            self._drop_analysis(service)
            return
        self.verdict.labels(service=service, signal=OVERALL).state(result.verdict.value)
        for signal in result.signals:
            self.verdict.labels(service=service, signal=signal.signal.value).state(
                signal.verdict.value
            )
            judged = [s.value for s in signal.samples if s.value is not None]
            if judged:
                self.sample.labels(service=service, signal=signal.signal.value).set(judged[-1])

    def blue_green(self, *, service: str, stage: str, weights: dict[str, int]) -> None:
        self.stage.labels(service=service).state(stage)
        for side, percent in weights.items():
            self.weight.labels(service=service, side=side).set(percent)

    def leading(self, held: bool) -> None:
        self.lease_held.set(1 if held else 0)

    def webhook(self, result: str) -> None:
        self.webhooks.labels(result=result).inc()

    def forget(self, service: str) -> None:
        """Drop a service's series once it left the desired state."""
        for metric in (self.drift, self.phase, self.percentage, self.applied, self.stage):
            with contextlib.suppress(KeyError):  # never reported: nothing to drop
                metric.remove(service)
        for side in ("blue", "green"):
            with contextlib.suppress(KeyError):
                self.weight.remove(service, side)
        self._drop_analysis(service)

    def _drop_analysis(self, service: str) -> None:
        # prometheus_client has no public way to list a metric's label sets.
        for labelled in (self.verdict, self.sample):
            with labelled._lock:
                found = [labels for labels in labelled._metrics if labels[0] == service]
            for labels in found:
                labelled.remove(*labels)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
