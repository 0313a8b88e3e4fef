"""The ``newInstances`` signal: instances of the new version failing their health checks after
the grace period, judged without waiting for AWS's hour of replacements (aws-facts 1.5).

Rules (the product's documented semantics):

1. *New instances* are those the rollout launched: ``in_service_at >= rollout_start`` (or
   ``launched_at >= rollout_start`` when ``in_service_at`` is unknown), whose ``version`` is
   the desired version when both are known. An instance the group no longer lists has version
   ``None`` and is counted by time alone. Instances launched after ``rollout_end`` are the
   rollback's own launches, not new instances.
2. ``traffic_start`` is the earliest new instance's ``in_service_at`` plus
   ``healthy_threshold * health_check_interval``: the earliest moment ELB can call it healthy
   and route to it (aws-facts 3.2, whose count of checks a new target needs is unconfirmed; the
   later reading is taken, so no sample is charged to the new version before it can serve).
   ``None`` while no new instance is InService.
3. *Judged* instances are those whose grace period is over (``in_service_at + grace_period <=
   observed_at``; Auto Scaling ignores failed ELB checks until then, aws-facts 2) or that Auto
   Scaling already replaced for failing a health check. *Failed* ones are those replaced for
   failing a health check, or judged with target state ``unhealthy``. The threshold is
   ``max(1, min(unhealthy_instances, len(judged)))``, so a small group with a batch of one
   fails on its one judged instance. FAIL when as many have failed; PASS when some are judged
   and it does not fail; PENDING while none is judged; INCONCLUSIVE when the group's
   activities could not be read, since then the instance list cannot be trusted.
"""

from __future__ import annotations

from reconciler.model.analysis import (
    AnalysisInputs,
    AnalysisSpec,
    InstanceHistory,
    Signal,
    SignalResult,
    Verdict,
)
from reconciler.pipeline.analysis.text import plural, seconds


def _is_new(instance: InstanceHistory, inputs: AnalysisInputs) -> bool:
    since = instance.in_service_at if instance.in_service_at is not None else instance.launched_at
    if since is None or since < inputs.rollout_start:
        return False
    launched = instance.launched_at if instance.launched_at is not None else since
    if inputs.rollout_end is not None and launched > inputs.rollout_end:
        return False
    wanted, actual = inputs.desired_version, instance.version
    return wanted is None or actual is None or wanted == actual


def new_instances(inputs: AnalysisInputs) -> tuple[InstanceHistory, ...]:
    """The instances the rollout launched (rule 1), in the order the inputs list them."""
    return tuple(i for i in inputs.instances if _is_new(i, inputs))


def traffic_start(inputs: AnalysisInputs) -> float | None:
    """When the first new instance could take traffic (rule 2); ``None`` if none is InService."""
    starts = [i.in_service_at for i in new_instances(inputs) if i.in_service_at is not None]
    if not starts:
        return None
    return min(starts) + inputs.healthy_threshold * inputs.health_check_interval


def _judged(instance: InstanceHistory, inputs: AnalysisInputs) -> bool:
    if instance.health_terminated:
        return True
    at = instance.in_service_at
    return at is not None and at + inputs.grace_period <= inputs.observed_at


def _failed(instance: InstanceHistory) -> bool:
    return instance.health_terminated or instance.target_state == "unhealthy"


def _why(instance: InstanceHistory) -> str:
    if instance.health_terminated:
        return f"{instance.instance_id}: replaced by Auto Scaling"
    return f"{instance.instance_id}: {instance.target_reason or 'unhealthy'}"


def judge_instances(spec: AnalysisSpec, inputs: AnalysisInputs) -> SignalResult:
    """The ``newInstances`` signal (rule 3)."""
    grace = f"the {seconds(inputs.grace_period)} grace period"
    if inputs.activities_error:
        return _result(
            Verdict.INCONCLUSIVE,
            f"new-instance health inconclusive: activities unreadable ({inputs.activities_error})",
        )
    fresh = new_instances(inputs)
    judged = [i for i in fresh if _judged(i, inputs)]
    if not judged:
        waiting = f"no new instance past {grace} yet" if fresh else "no new instance launched yet"
        return _result(Verdict.PENDING, f"new-instance health pending: {waiting}")
    failed = [i for i in judged if _failed(i)]
    reasons = "; ".join(_why(i) for i in failed)
    threshold = max(1, min(spec.unhealthy_instances, len(judged)))
    if len(failed) >= threshold:
        failing = plural(len(failed), "new instance")
        verb = "failed its" if len(failed) == 1 else "failed their"
        return _result(Verdict.FAIL, f"{failing} {verb} health checks after {grace} ({reasons})")
    healthy = plural(len(judged) - len(failed), "new instance")
    message = f"{healthy} healthy after {grace}"
    if failed:
        message += f", {len(failed)} failed ({reasons}), {threshold} would fail the rollout"
    return _result(Verdict.PASS, message)


def _result(verdict: Verdict, message: str) -> SignalResult:
    return SignalResult(signal=Signal.NEW_INSTANCES, verdict=verdict, message=message)
