"""One instance refresh as a state machine, advanced by ``step(fleet, now)``.

The API handlers only change a refresh's *intent* (start, cancel, roll back); ``step`` moves it
through time, replacing instances through a ``Fleet``. Today a step finishes whatever is under way
at once. The rollout simulation replaces ``step``'s body with one that launches an instance, waits
for its warmup and health checks on the sandbox clock, honours checkpoints and rolls back on
failure, without changing the API handlers or the record the API reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from reconciler.model import RefreshStatus
from reconciler.sandbox.groups import TemplateRef

CANCELLED_REASON = "The instance refresh was cancelled by a user request."
ROLLBACK_REASON = "The instance refresh was rolled back by a user request."


class Fleet(Protocol):
    """The group's instances, as a refresh needs to see and change them."""

    def instance_ids(self) -> list[str]: ...

    def outdated(self, ref: TemplateRef) -> list[str]:
        """Instances not launched from the version ``ref`` resolves to."""
        ...

    def replace(self, instance_ids: Sequence[str], ref: TemplateRef) -> None: ...

    def set_template(self, ref: TemplateRef) -> None: ...


@dataclass(slots=True)
class RollbackDetails:
    reason: str
    start_time: datetime
    percentage_complete_on_rollback: int = 0
    instances_to_update_on_rollback: int = 0


@dataclass(slots=True)
class InstanceRefresh:
    refresh_id: str
    group_name: str
    start_time: datetime
    preferences: dict[str, Any]
    desired: TemplateRef | None  # DesiredConfiguration.LaunchTemplate, None when not given
    previous: TemplateRef | None  # the group's configuration when the refresh started
    status: RefreshStatus = RefreshStatus.PENDING
    status_reason: str | None = None
    end_time: datetime | None = None
    percentage_complete: int = 0
    instances_to_update: int = 0
    rollback: RollbackDetails | None = None
    strategy: str = "Rolling"

    @property
    def active(self) -> bool:
        return self.status.active

    @property
    def target(self) -> TemplateRef | None:
        """What instances end up running: the desired configuration, else the group's own."""
        return self.desired or self.previous

    @property
    def skip_matching(self) -> bool:
        return bool(self.preferences.get("SkipMatching", False))

    # -- intents, from the API -------------------------------------------------------------

    def cancel(self) -> None:
        self.status = RefreshStatus.CANCELLING
        self.status_reason = CANCELLED_REASON

    def roll_back(self, fleet: Fleet, now: datetime, reason: str = ROLLBACK_REASON) -> None:
        assert self.previous is not None, "the service checks reversibility first"
        self.rollback = RollbackDetails(
            reason=reason,
            start_time=now,
            percentage_complete_on_rollback=self.percentage_complete,
            instances_to_update_on_rollback=len(fleet.outdated(self.previous)),
        )
        self.status = RefreshStatus.ROLLBACK_IN_PROGRESS
        self.status_reason = reason

    # -- time --------------------------------------------------------------------------------

    def to_replace(self, fleet: Fleet) -> list[str]:
        target = self.target
        if target is None:
            return []
        return fleet.outdated(target) if self.skip_matching else fleet.instance_ids()

    def step(self, fleet: Fleet, now: datetime) -> None:
        if self.status in (RefreshStatus.PENDING, RefreshStatus.IN_PROGRESS):
            self._complete(fleet, now)
        elif self.status is RefreshStatus.CANCELLING:
            self._finish(RefreshStatus.CANCELLED, now)
        elif self.status is RefreshStatus.ROLLBACK_IN_PROGRESS:
            self._complete_rollback(fleet, now)

    def _complete(self, fleet: Fleet, now: datetime) -> None:
        target = self.target
        retiring = self.to_replace(fleet)
        if target is not None:
            fleet.replace(retiring, target)
        # AWS saves the desired configuration on the group only once the refresh succeeds.
        if self.desired is not None:
            fleet.set_template(self.desired)
        self.percentage_complete = 100
        self.instances_to_update = 0
        self.status_reason = None
        self._finish(RefreshStatus.SUCCESSFUL, now)

    def _complete_rollback(self, fleet: Fleet, now: datetime) -> None:
        assert self.previous is not None and self.rollback is not None
        fleet.set_template(self.previous)
        fleet.replace(fleet.outdated(self.previous), self.previous)
        self.rollback.percentage_complete_on_rollback = 100
        self.rollback.instances_to_update_on_rollback = 0
        self._finish(RefreshStatus.ROLLBACK_SUCCESSFUL, now)

    def _finish(self, status: RefreshStatus, now: datetime) -> None:
        self.status = status
        self.end_time = now
