"""One instance refresh as a state machine, advanced through time by ``step(fleet, now)``.

The API handlers only change a refresh's *intent* (start, cancel, roll back); ``step`` moves it
on the sandbox clock: the forward ``Replacement`` launches instances in batches, waits for their
warmup and health checks, pauses at checkpoints, replaces new instances that fail their health
checks for up to an hour, and then either fails the refresh or, with AutoRollback, rolls it back:
a second ``Replacement`` puts the previous version back on the instances this refresh launched
(UG-overview "One-hour timeout", UG-rollback, [M RollbackInstanceRefresh], aws-facts 1.5).

Checkpoints (UG-ckpt, aws-facts 1.4): the refresh pauses ``CheckpointDelay`` seconds at each
(3600 when not given; up to 172800, which the reconciler sends to hold a refresh there until it
cancels it), and a cancel at a checkpoint leaves what was replaced (UG-cancel). A refresh with
``SkipMatching`` and a desired configuration takes on only the instances not on it (UG-skip);
its ``PercentageComplete`` and checkpoints count those instances alone. Whether AWS counts the
skipped ones as already complete is unconfirmed; the reconciler compares a refresh's
percentage only with its own checkpoints, so either reading gives the same gate.

What AWS reports, and how it is kept here:
- ``PercentageComplete`` / ``InstancesToUpdate``: instances replaced *and warmed up* over the
  total, of the forward pass. During a rollback the percentage counts only the forward pass's
  replacements not yet rolled back, so it "gradually goes back down to zero", and
  InstancesToUpdate stays what the refresh never updated [M InstanceRefresh.PercentageComplete,
  .InstancesToUpdate] (section 1.14);
- ``RollbackDetails``: the forward pass's percentage and remaining count when the rollback began;
- the group's launch template becomes the desired configuration only when the refresh succeeds.

After the last replacement the refresh waits out ``BakeTime`` in ``Baking``, still active and so
still cancellable and reversible ([M RefreshPreferences.BakeTime], [M InstanceRefreshStatus],
section 1.8). While ``InProgress`` or ``Baking``, a CloudWatch alarm named in
``AlarmSpecification`` that is in ``ALARM`` fails the refresh, or rolls it back with AutoRollback
([M AlarmSpecification], [M RefreshPreferences.AutoRollback], UG-rollback, section 1.9).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.model import RefreshStatus
from reconciler.sandbox.groups import TemplateRef
from reconciler.sandbox.holds import HoldPolicy
from reconciler.sandbox.replacement import Fleet, Pace, Replacement

CANCELLED_REASON = "The instance refresh was cancelled by a user request."
ROLLBACK_REASON = "The instance refresh was rolled back by a user request."
AUTO_ROLLBACK_REASON = (
    "The instance refresh failed and was rolled back automatically (AutoRollback): {why}"
)
FAILED_REASON = "The instance refresh failed: {why}"
BAKING_REASON = "Waiting for the bake time of {seconds} seconds to pass before completing."
ALARM_REASON = "CloudWatch alarm {names} went into the ALARM state."
ROLLBACK_FAILED_REASON = "The rollback of the instance refresh failed: {why}"


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
    warmup: int = 0  # InstanceWarmup, or the group's grace period when not given
    status: RefreshStatus = RefreshStatus.PENDING
    status_reason: str | None = None
    end_time: datetime | None = None
    rollback: RollbackDetails | None = None
    strategy: str = "Rolling"
    forward: Replacement | None = None
    backward: Replacement | None = None
    baked_at: datetime | None = None  # when Baking ends

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

    @property
    def auto_rollback(self) -> bool:
        return bool(self.preferences.get("AutoRollback", False))

    @property
    def bake_time(self) -> int:
        return int(self.preferences.get("BakeTime") or 0)

    @property
    def alarms(self) -> list[str]:
        return list((self.preferences.get("AlarmSpecification") or {}).get("Alarms") or [])

    @property
    def current(self) -> Replacement | None:
        return self.backward or self.forward

    @property
    def launching(self) -> TemplateRef | None:
        """What scale-out and healing launch meanwhile: the configuration being rolled out."""
        current = self.current
        return current.target if current is not None else self.target

    @property
    def percentage_complete(self) -> int:
        if self.status is RefreshStatus.SUCCESSFUL:
            return 100
        forward, backward = self.forward, self.backward
        if forward is None:
            return 0
        if backward is None or forward.total == 0:
            return forward.percentage
        standing = [i for i in forward.replaced if i in backward.waiting]
        return len(standing) * 100 // forward.total

    @property
    def instances_to_update(self) -> int:
        if self.rollback is not None:
            return self.rollback.instances_to_update_on_rollback
        return self.forward.remaining if self.forward else 0

    def pace(self, *, checkpoints: bool) -> Pace:
        prefs = self.preferences
        return Pace(
            min_healthy=int(prefs.get("MinHealthyPercentage", 90)),
            max_healthy=int(prefs.get("MaxHealthyPercentage", 100)),
            warmup=self.warmup,
            # A rollback replaces everything it must in one pass: AWS skips checkpoints then.
            checkpoints=tuple(prefs.get("CheckpointPercentages") or ()) if checkpoints else (),
            checkpoint_delay=int(prefs.get("CheckpointDelay", 0)),
            holds=HoldPolicy(
                protected=str(prefs.get("ScaleInProtectedInstances", "Wait")),
                standby=str(prefs.get("StandbyInstances", "Wait")),
            ),
            # Only a request that sent it has it: the defaults leave it out (A18).
            max_explicit="MaxHealthyPercentage" in prefs,
        )

    def to_replace(self, fleet: Fleet) -> list[str]:
        target = self.target
        if target is None:
            return []
        return fleet.outdated(target) if self.skip_matching else fleet.instance_ids()

    # -- intents, from the API -------------------------------------------------------------

    def begin(self, fleet: Fleet) -> None:
        target = self.target
        if target is not None:
            self.forward = Replacement.of(
                target, self.pace(checkpoints=True), self.to_replace(fleet)
            )

    def cancel(self) -> None:
        self.status = RefreshStatus.CANCELLING
        self.status_reason = CANCELLED_REASON

    def roll_back(self, fleet: Fleet, now: datetime, reason: str = ROLLBACK_REASON) -> None:
        assert self.previous is not None, "the service checks reversibility first"
        self.rollback = RollbackDetails(
            reason=reason,
            start_time=now,
            percentage_complete_on_rollback=self.percentage_complete,
            instances_to_update_on_rollback=self.instances_to_update,
        )
        # Launch-before-terminate replacements still in flight are surplus: the instances they
        # were to replace still run the previous configuration. They are terminated, not
        # replaced (derived from 1.2 and 1.7; replacing them one by one under MaxHealthy 200
        # is what made the modeled rollback at min 100 / max 200 take 17 minutes).
        live = set(fleet.instance_ids())
        flight = self.forward.launched if self.forward else {}
        fleet.retire([new for new, old in flight.items() if old is not None and old in live])
        # The newest instances first: those are the ones that failed.
        launched = [i for i in flight if i in fleet.instance_ids()]
        outdated = [i for i in fleet.outdated(self.previous) if i in self._deployed()]
        order = [i for i in launched if i in outdated] + [i for i in outdated if i not in launched]
        self.backward = Replacement.of(self.previous, self.pace(checkpoints=False), order)
        self.status = RefreshStatus.ROLLBACK_IN_PROGRESS
        self.status_reason = reason

    def _deployed(self) -> set[str]:
        """The instances this refresh launched: all a rollback replaces. AWS "replaces any
        instances that were replaced during the instance refresh" [M RollbackInstanceRefresh];
        instances another refresh replaced (one cancelled before, which "does not roll back
        any instances that were already replaced", UG-cancel) keep their version, though the
        group's configuration goes back (unconfirmed whether AWS replaces those too; the
        documented reading is the less kind one)."""
        forward = self.forward
        if forward is None:
            return set()
        return {*forward.replaced, *forward.launched, *forward.adopted}

    # -- time --------------------------------------------------------------------------------

    def step(self, fleet: Fleet, now: datetime) -> None:
        if now < self.start_time:
            # The simulation replays from the previous request's moment: before this refresh
            # existed it does nothing, or its launches would predate its own StartTime.
            return
        if self.status is RefreshStatus.PENDING:
            self.status = RefreshStatus.IN_PROGRESS
        if self.status in (RefreshStatus.IN_PROGRESS, RefreshStatus.BAKING):
            alarming = fleet.alarming(self.alarms)
            if alarming:
                self._fail(fleet, now, ALARM_REASON.format(names=", ".join(alarming)))
                return
        if self.status is RefreshStatus.IN_PROGRESS:
            self._advance(fleet, now)
        elif self.status is RefreshStatus.BAKING:
            self._bake(fleet, now)
        elif self.status is RefreshStatus.CANCELLING:
            self._settle(fleet, now)
        elif self.status is RefreshStatus.ROLLBACK_IN_PROGRESS:
            self._advance_rollback(fleet, now)

    def _advance(self, fleet: Fleet, now: datetime) -> None:
        forward = self.forward
        if forward is None:
            self._bake(fleet, now)
            return
        failure = forward.step(fleet, now)
        if failure is not None:
            self._fail(fleet, now, failure)
        elif forward.finished:
            self._bake(fleet, now)
        else:
            self.status_reason = forward.note or None

    def _bake(self, fleet: Fleet, now: datetime) -> None:
        if self.baked_at is None:
            self.baked_at = now + timedelta(seconds=self.bake_time)
        if now >= self.baked_at:
            self._succeed(fleet, now)
            return
        self.status = RefreshStatus.BAKING
        self.status_reason = BAKING_REASON.format(seconds=self.bake_time)

    def _succeed(self, fleet: Fleet, now: datetime) -> None:
        # AWS saves the desired configuration on the group only once the refresh succeeds.
        if self.desired is not None:
            fleet.set_template(self.desired)
        self.status_reason = None
        self._finish(RefreshStatus.SUCCESSFUL, now)

    def _fail(self, fleet: Fleet, now: datetime, why: str) -> None:
        if self.auto_rollback and self.previous is not None and self.desired is not None:
            self.roll_back(fleet, now, AUTO_ROLLBACK_REASON.format(why=why))
            return
        self.status_reason = FAILED_REASON.format(why=why)
        self._finish(RefreshStatus.FAILED, now)

    def _advance_rollback(self, fleet: Fleet, now: datetime) -> None:
        backward = self.backward
        assert backward is not None and self.previous is not None
        failure = backward.step(fleet, now)
        if failure is not None:
            self.status_reason = ROLLBACK_FAILED_REASON.format(why=failure)
            self._finish(RefreshStatus.ROLLBACK_FAILED, now)
        elif backward.finished:
            fleet.set_template(self.previous)
            self._finish(RefreshStatus.ROLLBACK_SUCCESSFUL, now)

    def _settle(self, fleet: Fleet, now: datetime) -> None:
        # AWS lets launches already under way finish, then stops; nothing is rolled back.
        current = self.current
        if current is None or current.settle(fleet, now):
            self._finish(RefreshStatus.CANCELLED, now)

    def _finish(self, status: RefreshStatus, now: datetime) -> None:
        self.status = status
        self.end_time = now
