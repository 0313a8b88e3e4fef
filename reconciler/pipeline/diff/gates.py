"""The gates a rollout will pass through, in words: what the pull-request diff promises.

Read from the spec alone (the analysis, the checkpoints, the bake time, the alarms, what a
failure does), so the diff of a pull request says how its release will be judged.
"""

from __future__ import annotations

from reconciler.model import AnalysisSpec, RolloutSpec, ServiceSpec
from reconciler.pipeline import analysis
from reconciler.pipeline.diff.checkpoint import gated, least_hold


def gates(spec: ServiceSpec) -> tuple[str, ...]:
    rollout = spec.rollout
    return (*checks(spec), *_pauses(rollout), _on_failure(rollout))


def checks(spec: ServiceSpec) -> tuple[str, ...]:
    """What every checkpoint (or blue/green step) must pass: each signal and its limits."""
    return tuple(_analysis(spec)) if spec.rollout.analysis.enabled else (_without_analysis(spec),)


def _analysis(spec: ServiceSpec) -> list[str]:
    a = spec.rollout.analysis
    grace = spec.auto_scaling_group.health_check_grace_period
    found = [
        f"new instances: fails when {a.unhealthy_instances} new instances (or every one"
        f" launched so far) fail their health checks after the {grace} s grace period"
    ]
    every = (
        f"per {a.interval} s sample of at least {a.min_requests} requests, failing after"
        f" {a.failure_limit} consecutive failing samples"
    )
    if a.error_rate.enabled and _limits(_rate_limits(a)):
        found.append(f"5xx rate: {_limits(_rate_limits(a))}, {every}")
    if a.latency_p99.enabled and _limits(_latency_limits(a)):
        found.append(f"p99 latency: {_limits(_latency_limits(a))}, {every}")
    if spec.rollout.alarms:
        found.append(f"alarms: {', '.join(spec.rollout.alarms)} (checked every tick, and by AWS)")
    return found


def _rate_limits(a: AnalysisSpec) -> list[str]:
    limits = []
    if a.error_rate.max is not None:
        limits.append(f"at most {analysis.percent(a.error_rate.max)}")
    if a.error_rate.max_increase is not None:
        points = f"{a.error_rate.max_increase * 100:g}"
        limits.append(f"at most {points} points over the baseline")
    return limits


def _latency_limits(a: AnalysisSpec) -> list[str]:
    limits = []
    if a.latency_p99.max is not None:
        limits.append(f"at most {analysis.seconds(a.latency_p99.max)}")
    if a.latency_p99.max_ratio is not None:
        limits.append(f"at most {a.latency_p99.max_ratio:g}x the baseline")
    return limits


def _limits(limits: list[str]) -> str:
    return " and ".join(limits)


def _without_analysis(spec: ServiceSpec) -> str:
    alarms = f", and the alarms {', '.join(spec.rollout.alarms)}" if spec.rollout.alarms else ""
    return (
        "analysis off: only AWS judges the rollout, by health checks (retried for up to an"
        f" hour){alarms}"
    )


def _pauses(rollout: RolloutSpec) -> list[str]:
    found = []
    if gated(rollout):
        at = ", ".join(f"{p}%" for p in rollout.checkpoint_percentages if p < 100)
        found.append(
            f"checkpoints at {at}: a gate; the refresh goes past each only once the analysis of"
            f" the instances so far passes and at least {least_hold(rollout)} s have passed"
            " there (no data, or too little, keeps it holding)"
        )
    elif rollout.checkpoint_percentages:
        at = ", ".join(f"{p}%" for p in rollout.checkpoint_percentages)
        delay = least_hold(rollout)
        found.append(f"checkpoints at {at}: AWS pauses {delay} s at each, then goes on by itself")
    if rollout.bake_time:
        found.append(f"bake: {rollout.bake_time} s after the last replacement, still judged")
    return found


def _on_failure(rollout: RolloutSpec) -> str:
    if rollout.auto_rollback:
        return "on failure: the refresh is rolled back to the previous version, not retried"
    return "on failure: the refresh is cancelled (autoRollback is off), not retried"
