"""The per-service Prometheus families, labelled ``name`` (the desired Service's name), each
series pre-initialised when a service is first seen and dropped when it leaves.

Pre-initialised means a counter exists at 0 before its first event, so
``increase(...[5m]) > 0`` fires on the first one; one-hot gauges (a condition's status, the
phase, a verdict, a stage) exist with every value at 0 until a pass says which is 1, and a
condition starts ``Unknown``. ``name`` and not ``service``: Prometheus Operator sets a
``service`` target label, and on the AWS metrics the word means the AWS service.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from reconciler.daemon.rollouts import OUTCOMES
from reconciler.model import ConditionType, Phase, Signal, Stage, Verdict

RESULTS = ("applied", "in_sync", "pending", "standby", "temporary_error", "permanent_error")
# Phases the diff reports, plus "Error" for a pass that stopped before its diff.
PHASES = tuple([p.value for p in Phase] + ["Error"])
VERDICTS = tuple(v.value for v in Verdict)
STAGES = tuple(s.value for s in Stage)
CONDITIONS = tuple(c.value for c in ConditionType)
STATUSES = ("True", "False", "Unknown")
OVERALL = "rollout"  # the ``signal`` label of the rollout's own verdict
SIGNALS = (OVERALL, *(s.value for s in Signal))
SIDES = ("blue", "green")
KINDS = ("applied", "desired")
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class OneHot:
    """A gauge family where, per service and key, exactly one ``value`` label is 1 (or none
    yet): e.g. ``{name, type, status}`` with status True/False/Unknown."""

    def __init__(self, gauge: Gauge, values: Iterable[str]) -> None:
        self.gauge = gauge
        self.values = tuple(values)

    def init(self, *key: str, start: str | None = None) -> None:
        for value in self.values:
            self.gauge.labels(*key, value).set(1 if value == start else 0)

    def set(self, *key: str, value: str) -> None:
        for each in self.values:
            self.gauge.labels(*key, each).set(1 if each == value else 0)


class ServiceMetrics:
    """What each service's passes found and did."""

    def __init__(self, r: CollectorRegistry) -> None:
        self._lock = threading.Lock()
        self._known: set[str] = set()
        # (id of an info-like gauge, its key labels) -> the value labels of its one series
        self._current: dict[tuple[int, tuple[str, ...]], tuple[str, ...]] = {}
        self.reconciles = Counter(
            "reconciler_reconcile", "Reconcile passes, by result.", ["name", "result"], registry=r
        )
        self.reconcile_seconds = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Time of a pass: the batched compute plus the service's own apply.",
            ["name"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "reconciler_reconcile_last_success_timestamp_seconds",
            "When a pass last ended without error (Unix time).",
            ["name"],
            registry=r,
        )
        self.drift = Gauge(
            "reconciler_drift_changes", "Changes the last pass found.", ["name"], registry=r
        )
        self.drift_detected = Counter(
            "reconciler_drift_detected", "Passes that found changes.", ["name"], registry=r
        )
        self.writer_conflicts = Counter(
            "reconciler_writer_conflicts",
            "Passes that wrote nothing: another writer owns the service or wrote a newer revision.",
            ["name"],
            registry=r,
        )
        self._define_conditions(r)
        self._define_rollouts(r)
        self._define_analysis(r)
        self._define_blue_green(r)
        self._families: tuple[MetricWrapperBase, ...] = (
            self.reconciles,
            self.reconcile_seconds,
            self.last_success,
            self.drift,
            self.drift_detected,
            self.writer_conflicts,
            self.conditions.gauge,
            self.condition_reason,
            self.phase.gauge,
            self.rollouts,
            self.last_rollout,
            self.progress,
            self.revision,
            self.applied,
            self.verdict.gauge,
            self.sample,
            self.stops,
            self.weight,
            self.stage.gauge,
        )

    def _define_conditions(self, r: CollectorRegistry) -> None:
        gauge = Gauge(
            "reconciler_service_condition",
            "1 on the condition's current status (True, False or Unknown), 0 on the others.",
            ["name", "type", "status"],
            registry=r,
        )
        self.conditions = OneHot(gauge, STATUSES)
        self.condition_reason = Gauge(
            "reconciler_service_condition_reason",
            "1 for the reason of each condition (a Reason, or the error that stalled it).",
            ["name", "type", "reason"],
            registry=r,
        )
        self.phase = OneHot(
            Gauge(
                "reconciler_rollout_phase",
                "1 for the current phase.",
                ["name", "phase"],
                registry=r,
            ),
            PHASES,
        )

    def _define_rollouts(self, r: CollectorRegistry) -> None:
        self.rollouts = Counter(
            "reconciler_rollouts",
            "Rollouts that ended, by outcome.",
            ["name", "outcome"],
            registry=r,
        )
        self.last_rollout = Gauge(
            "reconciler_rollout_last_success_timestamp_seconds",
            "When a rollout last succeeded (Unix time); absent until one does.",
            ["name"],
            registry=r,
        )
        self.progress = Gauge(
            "reconciler_rollout_progress_ratio",
            "The rollout in flight, 0 to 1; absent while none is.",
            ["name"],
            registry=r,
        )
        self.revision = Gauge(
            "reconciler_revision_info",
            "1 for the applied and the desired revision (the commit's first 12 hex digits).",
            ["name", "kind", "revision"],
            registry=r,
        )
        self.applied = Gauge(
            "reconciler_applied_version_info",
            "1 for the launch template version and image the group runs.",
            ["name", "launch_template_version", "image"],
            registry=r,
        )

    def _define_analysis(self, r: CollectorRegistry) -> None:
        verdict = Gauge(
            "reconciler_analysis_verdict",
            "1 for the rollout analysis verdict, by signal (signal=rollout: the whole rollout).",
            ["name", "signal", "verdict"],
            registry=r,
        )
        self.verdict = OneHot(verdict, VERDICTS)
        self.sample = Gauge(
            "reconciler_analysis_sample",
            "The newest judged sample: a 5xx rate (0-1) or a p99 in seconds.",
            ["name", "signal"],
            registry=r,
        )
        self.stops = Counter(
            "reconciler_analysis_stops",
            "Rollouts the analysis stopped (rolled back or cancelled).",
            ["name"],
            registry=r,
        )

    def _define_blue_green(self, r: CollectorRegistry) -> None:
        self.weight = Gauge(
            "reconciler_traffic_weight_ratio",
            "A blue/green side's share of the listener's traffic, 0 to 1.",
            ["name", "side"],
            registry=r,
        )
        stage = Gauge(
            "reconciler_blue_green_stage",
            "1 for the stage a blue/green rollout is at.",
            ["name", "stage"],
            registry=r,
        )
        self.stage = OneHot(stage, STAGES)

    # -- lifecycle ---------------------------------------------------------------------------

    def init(self, name: str) -> None:
        """Pre-initialise a service's series (no-op once done)."""
        with self._lock:
            if name in self._known:
                return
            self._known.add(name)
        for result in RESULTS:
            self.reconciles.labels(name, result)
        self.writer_conflicts.labels(name)
        self.reconcile_seconds.labels(name)
        self.drift_detected.labels(name)
        self.stops.labels(name)
        for outcome in OUTCOMES:
            self.rollouts.labels(name, outcome)
        for kind in CONDITIONS:
            self.conditions.init(name, kind, start="Unknown")
        self.phase.init(name)
        for signal in SIGNALS:
            self.verdict.init(name, signal)
        self.stage.init(name)

    def replace(self, gauge: Gauge, key: tuple[str, ...], labels: tuple[str, ...]) -> None:
        """Set the one series of an info-like ``gauge`` for ``key`` (its leading labels) to
        ``labels``: the new series is 1 before the old one goes, so a scrape sees one or both,
        never none."""
        with self._lock:
            previous = self._current.get((id(gauge), key))
            self._current[(id(gauge), key)] = labels
        gauge.labels(*key, *labels).set(1)
        if previous is not None and previous != labels:
            gauge.remove(*key, *previous)

    def forget(self, name: str) -> None:
        """Drop every series of a service that left the desired state."""
        with self._lock:
            self._known.discard(name)
            self._current = {k: v for k, v in self._current.items() if k[1][0] != name}
        for family in self._families:
            family.remove_by_labels({"name": name})
