"""Prometheus metrics for the daemon, in a registry of its own (nothing process-global).

Named like Flux's ``gotk_*`` and Argo CD's ``argocd_app_*`` families: conditions as one-hot
gauges, counters pre-initialised at 0, timestamps in Unix seconds, ratios 0 to 1, ``*_info``
gauges at 1. ``name`` is the desired Service; ``aws_service`` the AWS one::

    reconciler_service_condition{name,type,status}          1 on the status (True/False/Unknown)
    reconciler_service_condition_reason{name,type,reason}   1 for each condition's reason
    reconciler_reconcile_total{name,result}                 passes per service and result
    reconciler_reconcile_duration_seconds{name}             batched compute + the service's apply
    reconciler_reconcile_last_success_timestamp_seconds{name}  a pass without error
    reconciler_drift_changes{name}                          changes the last pass found
    reconciler_drift_detected_total{name}                   passes that found at least one change
    reconciler_rollout_phase{name,phase}                    1 for the current phase
    reconciler_rollout_progress_ratio{name}                 0-1 in a rollout, else absent
    reconciler_rollouts_total{name,outcome}                 succeeded|failed|rolled_back|superseded
    reconciler_rollout_last_success_timestamp_seconds{name}
    reconciler_revision_info{name,kind,revision}            kind applied|desired, 12 hex digits
    reconciler_applied_version_info{name,launch_template_version,image}
    reconciler_analysis_verdict{name,signal,verdict}        1 for the verdict (rollout: overall)
    reconciler_analysis_sample{name,signal}                 the newest judged sample's value
    reconciler_analysis_stops_total{name}                   rollouts the analysis stopped
    reconciler_traffic_weight_ratio{name,side}              blue/green: a side's share, 0-1
    reconciler_blue_green_stage{name,stage}                 1 for the stage
    reconciler_desired_revision_info{revision,last_good_revision}
    reconciler_desired_valid                                0 while the newest commit is refused
    reconciler_reconcile_interval_seconds                   the configured interval
    reconciler_aws_api_calls_total{aws_service,operation}   every AWS API call (Aws.on_call)
    reconciler_aws_api_errors_total{aws_service,operation,code}  failed calls (Aws.on_error)
    reconciler_git_fetch_duration_seconds                   fetches, failed ones included
    reconciler_git_fetch_errors_total
    reconciler_lease_held                                   1 on the instance that may write
    reconciler_webhook_requests_total{result}               deliveries to /hooks/git (webhook.py)
    reconciler_github_requests_total{operation,result}      posts to GitHub, each attempt's result
    reconciler_notifications_total{sink,event,result}       --notify (see notify/metrics.py)
    reconciler_build_info{version,python,prometheus_client} 1
    process_*, python_info                                  prometheus_client's collectors

No ``*_created`` series: they double the sample count and no alert reads them.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from reconciler import __version__
from reconciler.daemon.github.client import OPERATIONS as GITHUB_OPERATIONS
from reconciler.daemon.github.client import RESULTS as GITHUB_RESULTS
from reconciler.daemon.service_metrics import (
    DURATION_BUCKETS,
    OVERALL,
    PHASES,
    RESULTS,
    SIGNALS,
    ServiceMetrics,
)
from reconciler.model import AnalysisResult, Condition

WEBHOOK_RESULTS = (
    "triggered",
    "coalesced",
    "duplicate",
    "ping",
    "ignored_event",
    "ignored_repository",
    "ignored_ref",
    "ignored_deleted",
    "unauthorized",
    "bad_payload",
)
# Re-exported: callers name results and phases through this module.
__all__ = ["OVERALL", "PHASES", "RESULTS", "WEBHOOK_RESULTS", "Metrics"]


class Metrics:
    """The daemon's metrics; ``render()`` is what ``/metrics`` serves. ``clock`` gives the
    timestamps (wall time; the sandbox's clock in tests)."""

    def __init__(
        self, *, registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.clock = clock
        self.services = ServiceMetrics(self.registry)
        self._define_daemon_metrics(self.registry)
        self._define_build_info(self.registry)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.desired_valid.set(1)

    def _define_daemon_metrics(self, r: CollectorRegistry) -> None:
        """The daemon's own inputs and outputs: revisions, AWS calls, fetches, lease, webhook."""
        self.desired = Gauge(
            "reconciler_desired_revision_info",
            "1 for the newest and the last good commit.",
            ["revision", "last_good_revision"],
            registry=r,
        )
        self.desired_valid = Gauge(
            "reconciler_desired_valid", "0 while the newest commit is refused.", registry=r
        )
        self.interval = Gauge(
            "reconciler_reconcile_interval_seconds", "Seconds between two ticks.", registry=r
        )
        self.aws_calls = Counter(
            "reconciler_aws_api_calls", "AWS API calls.", ["aws_service", "operation"], registry=r
        )
        self.aws_errors = Counter(
            "reconciler_aws_api_errors",
            "AWS API calls that failed (after botocore's retries), by AWS error code.",
            ["aws_service", "operation", "code"],
            registry=r,
        )
        self.fetch_seconds = Histogram(
            "reconciler_git_fetch_duration_seconds",
            "git fetch time.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.fetch_errors = Counter("reconciler_git_fetch_errors", "Failed fetches.", registry=r)
        self.lease_held = Gauge("reconciler_lease_held", "1 while this instance leads.", registry=r)
        self.webhooks = Counter(
            "reconciler_webhook_requests", "Webhook requests, by result.", ["result"], registry=r
        )
        for result in WEBHOOK_RESULTS:
            self.webhooks.labels(result)
        self.github = Counter(
            "reconciler_github_requests",
            "Posts to GitHub (commit and deployment statuses), each attempt, by result.",
            ["operation", "result"],
            registry=r,
        )
        for operation in GITHUB_OPERATIONS:
            for result in GITHUB_RESULTS:
                self.github.labels(operation, result)
        self._desired_labels: tuple[str, str] | None = None

    def _define_build_info(self, r: CollectorRegistry) -> None:
        info = Gauge(
            "reconciler_build_info",
            "1, labelled with the reconciler's version and what it runs on.",
            ["version", "python", "prometheus_client"],
            registry=r,
        )
        info.labels(
            __version__, platform.python_version(), metadata.version("prometheus_client")
        ).set(1)

    # -- the daemon --------------------------------------------------------------------------

    def aws_call(self, service: str, operation: str) -> None:
        """An ``Aws.on_call`` hook."""
        self.aws_calls.labels(aws_service=service, operation=operation).inc()

    def aws_error(self, service: str, operation: str, code: str) -> None:
        """An ``Aws.on_error`` hook."""
        self.aws_errors.labels(aws_service=service, operation=operation, code=code).inc()

    def fetched(self, *, seconds: float, ok: bool) -> None:
        self.fetch_seconds.observe(seconds)
        if not ok:
            self.fetch_errors.inc()

    def desired_revision(self, *, revision: str | None, last_good: str | None, valid: bool) -> None:
        labels = (revision or "", last_good or "")
        previous, self._desired_labels = self._desired_labels, labels
        self.desired.labels(*labels).set(1)
        if previous is not None and previous != labels:
            self.desired.remove(*previous)
        self.desired_valid.set(1 if valid else 0)

    def leading(self, held: bool) -> None:
        self.lease_held.set(1 if held else 0)

    def webhook(self, result: str) -> None:
        self.webhooks.labels(result=result).inc()

    def github_request(self, operation: str, result: str) -> None:
        """A ``GitHubClient`` result: one per attempt, and one per post dropped or given up."""
        self.github.labels(operation=operation, result=result).inc()

    # -- each service ------------------------------------------------------------------------

    def known(self, names: Iterable[str]) -> None:
        """Services in the desired state: their series exist from now on."""
        for name in names:
            self.services.init(name)

    def reconciled(
        self,
        *,
        name: str,
        result: str,
        seconds: float,
        changes: int,
        phase: str,
        progress: float | None,
    ) -> None:
        s = self.services
        s.init(name)
        s.reconciles.labels(name, result).inc()
        s.reconcile_seconds.labels(name).observe(seconds)
        if not result.endswith("_error"):
            s.last_success.labels(name).set(self.clock())
        s.drift.labels(name).set(changes)
        if changes:
            s.drift_detected.labels(name).inc()
        s.phase.set(name, value=phase if phase in PHASES else "Error")
        if progress is None:
            s.progress.remove_by_labels({"name": name})
        else:
            s.progress.labels(name).set(progress)

    def conditions(self, name: str, conditions: Sequence[Condition]) -> None:
        for c in conditions:
            self.services.conditions.set(name, c.type, value="True" if c.status else "False")
            self.services.replace(self.services.condition_reason, (name, c.type), (c.reason,))

    def rollouts(self, name: str, outcomes: Sequence[str]) -> None:
        for outcome in outcomes:
            self.services.rollouts.labels(name, outcome).inc()
            if outcome == "succeeded":
                self.services.last_rollout.labels(name).set(self.clock())

    def revisions(
        self,
        *,
        name: str,
        applied: str | None,
        desired: str | None,
        version: int | None,
        image: str | None,
    ) -> None:
        s = self.services
        for kind, revision in (("applied", applied), ("desired", desired)):
            if revision:
                s.replace(s.revision, (name, kind), (revision[:12],))
        if version is not None:
            s.replace(s.applied, (name,), (str(version), image or ""))

    def analysed(self, *, name: str, result: AnalysisResult | None, stopped: bool) -> None:
        s = self.services
        if stopped:
            s.stops.labels(name).inc()
        verdicts: dict[str, str] = {}
        if result is not None:
            verdicts[OVERALL] = result.verdict.value
            for signal in result.signals:
                verdicts[signal.signal.value] = signal.verdict.value
                judged = [x.value for x in signal.samples if x.value is not None]
                if judged:
                    s.sample.labels(name, signal.signal.value).set(judged[-1])
        else:  # no rollout is being judged: no verdict, no sample
            s.sample.remove_by_labels({"name": name})
        for signal_name in SIGNALS:
            s.verdict.set(name, signal_name, value=verdicts.get(signal_name, ""))

    def blue_green(self, *, name: str, stage: str, weights: Mapping[str, int]) -> None:
        self.services.stage.set(name, value=stage)
        for side, percent in weights.items():
            self.services.weight.labels(name, side).set(percent / 100)

    def forget(self, name: str) -> None:
        """Drop a service's series once it left the desired state."""
        self.services.forget(name)

    # -- exposition --------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(_WithoutCreated(self.registry)), CONTENT_TYPE_LATEST


class _WithoutCreated(Collector):
    """The registry's families without their ``*_created`` samples. prometheus_client's own
    switch (``disable_created_metrics``) is process-global; this keeps it to our registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family
