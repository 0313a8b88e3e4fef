"""What ``diff`` finds: the ``Change``s between desired and observed, and the ``Phase`` of the
service's rollout, together a ``Diff``; and ``value_text``, the one way a field value is shown.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.model.analysis import AnalysisResult
from reconciler.model.observed import ObservedRefresh
from reconciler.model.rollout_plan import RolloutPlan

if TYPE_CHECKING:  # model.traffic imports Phase from here
    from reconciler.model.traffic import BlueGreenDecision


class Resource(enum.StrEnum):
    TARGET_GROUP = "target_group"
    LAUNCH_TEMPLATE = "launch_template"
    AUTO_SCALING_GROUP = "auto_scaling_group"
    SCALING_POLICY = "scaling_policy"
    INSTANCE_REFRESH = "instance_refresh"
    LISTENER = "listener"  # blue/green's forward: the listener's default action, or a rule's


class ChangeKind(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


Value = str | int | float | bool | None | tuple[Any, ...]


def value_text(value: Value) -> str:
    """A field value as the diff and the plan show it: ``(none)``, ``true``, ``[50, 100]``."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if value == "":
        return '""'
    return str(value)


@dataclass(frozen=True, slots=True)
class Change:
    """One field that differs: ``resource`` named ``resource_name`` has ``old``, wants ``new``."""

    resource: Resource
    resource_name: str
    field: str  # desired.yaml field path, e.g. "healthCheck.intervalSeconds", "image"
    old: Value
    new: Value
    kind: ChangeKind = ChangeKind.UPDATE


class Phase(enum.StrEnum):
    """Where a service's rollout stands after the diff: drives plan and status."""

    IN_SYNC = "InSync"
    OUT_OF_SYNC = "OutOfSync"
    PROGRESSING = "Progressing"  # a refresh for the desired state is under way
    SUPERSEDING = "Superseding"  # a refresh for an older state is being cancelled
    FAILED = "Failed"  # the desired fingerprint failed before; not retried
    BLOCKED = "Blocked"  # cannot act: missing resource, owned by another reconciler, paused


@dataclass(frozen=True, slots=True)
class Diff:
    service: str
    changes: tuple[Change, ...]
    phase: Phase
    message: str = ""
    refresh: ObservedRefresh | None = None  # the refresh in flight, if any
    # FAILED: the value the group's failed tag must hold (``model.markers.failed_marker``, or
    # the tag's value when it already records this failure). "" outside FAILED.
    failed_marker: str = ""
    analysis: AnalysisResult | None = None  # the rollout under way, as the analysis judges it
    gates: tuple[str, ...] = ()  # a rollout to start: how it will be judged, in words
    blue_green: BlueGreenDecision | None = None  # strategy blueGreen: what the decision chose
    rollout_plan: RolloutPlan | None = None  # OutOfSync: the rollout it would start, or none
    # What the diff saw and leaves alone, or warns about: unmanaged fields, a policy's capacity.
    notes: tuple[str, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not self.changes and self.phase is Phase.IN_SYNC
