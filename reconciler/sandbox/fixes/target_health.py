"""DescribeTargetHealth that reflects what happened to each target.

moto 5.2.5 answers ``healthy`` for any registered target, including stopped and terminated
instances, and a deregistered instance is either forgotten or "draining" forever. Here:
- a registered target's health comes from the runtime's ``TargetHealthModel``;
- a deregistered target is ``draining`` until the target group's deregistration delay has passed
  on the sandbox clock, and is listed while it drains, like AWS;
- registration times are recorded so a health model can simulate health checks over time;
- ``HealthCheckPort`` is the port the checks connect to, a number: moto echoes the target
  group's ``traffic-port`` setting, AWS the target's port
  [M TargetHealthDescription.HealthCheckPort].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

from reconciler.sandbox import instance_index, runtime
from reconciler.sandbox.health import TargetView
from reconciler.sandbox.patching import original, patch
from reconciler.sandbox.state import attached

_DEFAULT_DEREGISTRATION_DELAY = 300


@dataclass(frozen=True, slots=True)
class Draining:
    target: dict[str, Any]
    until: datetime


@dataclass(slots=True)
class TargetBook:
    registered_at: dict[str, datetime] = field(default_factory=dict)
    draining: dict[str, Draining] = field(default_factory=dict)
    # When the health check settings last changed, and each target's state just before: the
    # new checks start from that state, they do not rewrite the target's past.
    checks_changed_at: datetime | None = None
    state_before_change: dict[str, str] = field(default_factory=dict)


def book(target_group: Any) -> TargetBook:
    return attached(target_group, "targets", TargetBook)


def states(group: Any, instance_id: str) -> list[str]:
    """The instance's state in each of the group's target groups (``healthy``, ``initial``...)."""
    backend = group.autoscaling_backend.elbv2_backend
    found = []
    for arn in group.target_group_arns:
        target_group = backend.target_groups.get(arn)
        if target_group is not None:
            found.append(
                str(target_group.health_for({"Id": instance_id}, backend.ec2_backend).status)
            )
    return found


def check_port(target_group: Any, target_port: Any) -> str:
    """The port a health check connects to: the target's own for ``traffic-port``."""
    configured = target_group.health_check_port
    if configured in (None, "traffic-port"):
        return str(target_port)
    return str(configured)


def install() -> None:
    patch(FakeTargetGroup, "register", _register)
    patch(FakeTargetGroup, "deregister", _deregister)
    patch(FakeTargetGroup, "deregister_terminated_instances", _deregister_terminated)
    patch(FakeTargetGroup, "health_for", _health_for)
    patch(ELBv2Backend, "describe_target_health", _describe_target_health)
    patch(ELBv2Backend, "modify_target_group", _modify_target_group)


def _modify_target_group(self: Any, arn: str, *args: Any, **kwargs: Any) -> Any:
    target_group = self.target_groups.get(arn)
    if target_group is not None:
        before = {
            target_id: str(target_group.health_for(target, self.ec2_backend).status)
            for target_id, target in target_group.targets.items()
        }
        records = book(target_group)
        records.state_before_change = before
        records.checks_changed_at = runtime.current().now()
    return original(ELBv2Backend, "modify_target_group")(self, arn, *args, **kwargs)


def _register(self: Any, targets: list[dict[str, Any]]) -> None:
    original(FakeTargetGroup, "register")(self, targets)
    now = runtime.current().now()
    records = book(self)
    for target in targets:
        records.registered_at[target["Id"]] = now
        records.draining.pop(target["Id"], None)


def _deregister(self: Any, targets: list[dict[str, Any]]) -> None:
    leaving = [self.targets[t["Id"]] for t in targets if t["Id"] in self.targets]
    original(FakeTargetGroup, "deregister")(self, targets)
    _start_draining(self, leaving)


def _deregister_terminated(self: Any, instance_ids: list[str]) -> None:
    leaving = [self.targets[i] for i in instance_ids if i in self.targets]
    original(FakeTargetGroup, "deregister_terminated_instances")(self, instance_ids)
    _start_draining(self, leaving)


def deregistration_delay(target_group: Any) -> int:
    """``deregistration_delay.timeout_seconds``, 300 by default [M TargetGroupAttribute.Key]."""
    return int(
        target_group.attributes.get(
            "deregistration_delay.timeout_seconds", _DEFAULT_DEREGISTRATION_DELAY
        )
    )


def _start_draining(target_group: Any, targets: list[dict[str, Any]]) -> None:
    until = runtime.current().now() + timedelta(seconds=deregistration_delay(target_group))
    records = book(target_group)
    for target in targets:
        records.draining[target["Id"]] = Draining(dict(target), until)
        records.registered_at.pop(target["Id"], None)


def _health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
    target_id = target["Id"]
    now = runtime.current().now()
    registered = self.targets.get(target_id)
    if registered is not None:
        return _registered_health(self, registered, ec2_backend, now)
    port = target.get("Port", self.port)
    draining = book(self).draining.get(target_id)
    if draining is not None and now < draining.until:
        return FakeHealthStatus(
            target_id,
            draining.target.get("Port", port),
            check_port(self, draining.target.get("Port", port)),
            "draining",
            "Target.DeregistrationInProgress",
            "Target deregistration is in progress",
        )
    return FakeHealthStatus(
        target_id,
        port,
        check_port(self, port),
        "unused",
        "Target.NotRegistered",
        "Target is not registered to the target group",
    )


def _registered_health(
    target_group: Any, target: dict[str, Any], ec2_backend: Any, now: datetime
) -> FakeHealthStatus:
    target_id = target["Id"]
    instance = instance_index.find(ec2_backend, target_id) if target_id.startswith("i-") else None
    records = book(target_group)
    view = TargetView(
        target_id=target_id,
        port=int(target["Port"]),
        target_group=target_group,
        instance=instance,
        registered_at=records.registered_at.get(target_id, now),
        checks_changed_at=records.checks_changed_at,
        state_before_change=records.state_before_change.get(target_id),
    )
    health = runtime.current().health.health(view, now)
    return FakeHealthStatus(
        target_id,
        target["Port"],
        check_port(target_group, target["Port"]),
        health.state,
        health.reason,
        health.description,
    )


def _describe_target_health(
    self: Any, target_group_arn: str, targets: list[dict[str, Any]]
) -> list[FakeHealthStatus]:
    target_group = self.target_groups.get(target_group_arn)
    if targets or target_group is None:  # moto raises the right error for an unknown ARN
        found: list[FakeHealthStatus] = original(ELBv2Backend, "describe_target_health")(
            self, target_group_arn, targets
        )
        return found
    now = runtime.current().now()
    listed = list(target_group.targets.values())
    listed += [d.target for d in book(target_group).draining.values() if now < d.until]
    return [target_group.health_for(t, self.ec2_backend) for t in listed]
