"""What the load balancer would say about a registered target.

moto answers ``healthy`` for every registered target, even a terminated one. The sandbox asks a
``TargetHealthModel`` instead. ``HealthChecks`` (the default) runs the target group's health
checks on the sandbox clock against the image the instance runs; ``RunningIsHealthy`` only looks
at the instance's state. Tests may swap in their own model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from reconciler.sandbox import app, behaviour, timing


@dataclass(frozen=True, slots=True)
class TargetHealth:
    state: str  # "initial" | "healthy" | "unhealthy" | "unused" | "draining" | "unavailable"
    reason: str | None = None  # e.g. "Target.FailedHealthChecks"
    description: str | None = None


HEALTHY = TargetHealth("healthy")
INITIAL = TargetHealth("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
FAILING = TargetHealth("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


@dataclass(frozen=True, slots=True)
class TargetView:
    """A registered target, as a health model sees it."""

    target_id: str
    port: int
    target_group: Any  # moto's FakeTargetGroup: health check settings live here
    instance: Any | None  # moto's ec2 Instance, or None for an IP target
    registered_at: datetime
    checks_changed_at: datetime | None = None  # ModifyTargetGroup's last change of the checks
    state_before_change: str | None = None  # the target's state just before that change


class TargetHealthModel(Protocol):
    def health(self, target: TargetView, now: datetime) -> TargetHealth: ...


def _not_running(instance: Any) -> TargetHealth | None:
    if instance is None or instance.state == "running":
        return None
    return TargetHealth("unused", "Target.InvalidState", f"Target is in the {instance.state} state")


class RunningIsHealthy:
    """A registered instance is healthy while it runs; nothing else is simulated."""

    def health(self, target: TargetView, now: datetime) -> TargetHealth:
        return _not_running(target.instance) or HEALTHY


@dataclass(frozen=True, slots=True)
class CheckSettings:
    interval: int
    healthy_threshold: int
    unhealthy_threshold: int

    @classmethod
    def of(cls, target_group: Any) -> CheckSettings:
        return cls(
            interval=max(1, int(target_group.health_check_interval_seconds)),
            healthy_threshold=int(target_group.healthy_threshold_count),
            unhealthy_threshold=int(target_group.unhealthy_threshold_count),
        )


class HealthChecks:
    """The target group's checks, every ``interval`` from registration, against the app.

    The app (``app``) answers once it has booted (``APP_BOOT_SECONDS`` after registration),
    unless its image never starts (``behaviour``), in which case it never does; whether a check
    passes depends on the target group's protocol, port, path and matcher (row C1 of
    aws-facts 8).
    ``healthy_threshold`` passes in a row make a target healthy, ``unhealthy_threshold``
    failures unhealthy, with the reason code of the failing check; before either it is
    ``initial`` (``Elb.InitialHealthChecking``).
    """

    def health(self, target: TargetView, now: datetime) -> TargetHealth:
        stopped = _not_running(target.instance)
        if stopped is not None:
            return stopped
        if target.instance is None:
            return HEALTHY
        check = app.Check.of(target.target_group, target.port)
        admitted = app.admits(target.instance, check.port)
        up = app.answer(check, app_up=app_starts(target.instance), admitted=admitted)
        down = app.answer(check, app_up=False, admitted=admitted) or app.FAILED
        booted = target.registered_at + timedelta(seconds=timing.APP_BOOT_SECONDS)
        ready = booted if up is None else None
        failure = up if up is not None and now >= booted else down
        failing = TargetHealth("unhealthy", failure.reason, failure.description)
        checks = CheckSettings.of(target.target_group)
        changed, before = target.checks_changed_at, target.state_before_change
        if up is not None and changed is not None and before and changed > target.registered_at:
            # New settings that fail: the target keeps its state until enough checks fail.
            verdict = judge(checks, changed, None, now, failing)
            return verdict if verdict.state == "unhealthy" else _state(before, failing)
        return judge(checks, target.registered_at, ready, now, failing)


def app_starts(instance: Any) -> bool:
    """Whether the instance's image ever starts its app (``behaviour``)."""
    # runtime imports this module for its default health model: read the running sandbox's
    # behaviours at call time instead of at import.
    from reconciler.sandbox import runtime

    return behaviour.of(instance, runtime.current().behaviours).healthy


def _state(name: str, failing: TargetHealth) -> TargetHealth:
    return {"healthy": HEALTHY, "unhealthy": failing}.get(name, INITIAL)


def judge(
    checks: CheckSettings,
    registered: datetime,
    ready: datetime | None,
    now: datetime,
    failing: TargetHealth = FAILING,
) -> TargetHealth:
    """The target's state after the checks run so far: failing before ``ready``, passing after.

    ``failing`` is what an unhealthy target reports. Counted rather than replayed, so a target
    registered a day ago costs nothing to judge.
    """
    ran = int((now - registered).total_seconds() // checks.interval)
    if ready is None:
        failed, passed = ran, 0
    else:
        before_ready = (ready - registered).total_seconds() / checks.interval
        failed = min(ran, max(0, _ceil(before_ready) - 1))
        passed = ran - failed
    if passed >= checks.healthy_threshold:
        return HEALTHY
    if failed >= checks.unhealthy_threshold:
        return failing
    return INITIAL


def _ceil(value: float) -> int:
    whole = int(value)
    return whole if whole == value else whole + 1
