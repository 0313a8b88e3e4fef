"""What the load balancer would say about a registered target.

moto answers ``healthy`` for every registered target, even a terminated one. The sandbox asks a
``TargetHealthModel`` instead. The default model below only looks at the instance's state; the
rollout simulation swaps in a model that also looks at the image an instance runs and how long
ago it was registered (``TargetView.registered_at``), without touching the moto patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TargetHealth:
    state: str  # "initial" | "healthy" | "unhealthy" | "unused" | "draining" | "unavailable"
    reason: str | None = None  # e.g. "Target.FailedHealthChecks"
    description: str | None = None


HEALTHY = TargetHealth("healthy")


@dataclass(frozen=True, slots=True)
class TargetView:
    """A registered target, as a health model sees it."""

    target_id: str
    port: int
    target_group: Any  # moto's FakeTargetGroup: health check settings live here
    instance: Any | None  # moto's ec2 Instance, or None for an IP target
    registered_at: datetime


class TargetHealthModel(Protocol):
    def health(self, target: TargetView, now: datetime) -> TargetHealth: ...


class RunningIsHealthy:
    """A registered instance is healthy while it runs; nothing else is simulated yet."""

    def health(self, target: TargetView, now: datetime) -> TargetHealth:
        instance = target.instance
        if instance is None or instance.state == "running":
            return HEALTHY
        return TargetHealth(
            "unused", "Target.InvalidState", f"Target is in the {instance.state} state"
        )
