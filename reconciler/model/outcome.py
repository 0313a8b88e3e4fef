"""What one pipeline pass learned about a service (``ServiceOutcome``), and what apply did
(``ApplyResult``): the record ``status``, the daemon and the CLI read after a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.model.actions import Action, Plan
from reconciler.model.changes import Diff
from reconciler.model.observed import ObservedService
from reconciler.model.spec import DesiredService, ServiceSpec
from reconciler.model.waves import QueuedRollout


@dataclass
class ApplyResult:
    service: str
    done: list[Action] = field(default_factory=list)
    created_version: int | None = None
    refresh_id: str | None = None


@dataclass
class ServiceOutcome:
    """Everything one pass learned about one service. ``error`` set means it stopped there."""

    spec: ServiceSpec
    desired: DesiredService | None = None
    observed: ObservedService | None = None
    diff: Diff | None = None
    plan: Plan | None = None
    applied: ApplyResult | None = None
    # Always a ReconcilerError; typed as Exception because the model sits below reconciler.errors.
    error: Exception | None = None
    # Its rollout waits for a slot (maxConcurrentRollouts): the plan was held, not applied.
    queued: QueuedRollout | None = None

    @property
    def name(self) -> str:
        return self.spec.name
