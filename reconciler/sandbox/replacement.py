"""Replacing a group's instances in batches, the way an instance refresh paces it.

One ``Replacement`` moves a set of instances onto one launch template version: the forward pass
of a refresh, or its rollback. Each ``step`` looks at the instances it launched, counts the ones
warmed up and healthy as replaced, and starts the next batch as far as the preferences allow:

- ``MaxHealthyPercentage`` omitted (or 100 when the minimum allows it): take old instances out
  first, as many as ``MinHealthyPercentage`` allows (at least one at a time), and launch their
  replacements at the same time;
- set explicitly, even to 100, when the minimum cannot be honoured otherwise (min = max = 100,
  or min 90 on fewer than 10 instances): launch first, one over desired capacity, and retire
  the old instance once the new one is ready ([M RefreshPreferences.MaxHealthyPercentage],
  UG-overview, TF-47188; aws-facts 1.2, rows A2 and A3);
- above 100: use the whole Min..Max range ("a wider range replaces more instances at once",
  [M RefreshPreferences], UG-IMP; aws-facts 1.2, row A4): take out first as many old instances
  as the minimum allows, launch up to the maximum on top, and retire the other old instances as
  each new one is ready (min 50 / max 150 on 2: one old one stays while two new ones launch);
- never past the next checkpoint: AWS "will sometimes replace fewer" to land on it exactly;
- Standby and scale-in-protected instances as ``holds`` says: replaced, left out, terminated,
  or waited for, for an hour at most;
- a new instance that fails its health checks (or is terminated under it) is terminated and
  replaced from the same target version, and the replacement keeps trying for one hour from the
  first such failure; only then does it fail (UG-overview "One-hour timeout", UG-rollback,
  aws-facts 1.5, row A1). A new instance counted replaced meanwhile resets the hour: the
  refresh is making progress again.

The pure part (batch sizes) is ``batch_size``; the rest talks to the group through ``Fleet``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from reconciler.sandbox import holds
from reconciler.sandbox.activities import Cause
from reconciler.sandbox.groups import TemplateRef
from reconciler.sandbox.holds import Action, Hold, HoldPolicy

# How long a refresh keeps replacing new instances that fail their health checks (1.5).
RETRY_LIMIT_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one launched instance stands, as the refresh sees it."""

    in_service_at: datetime | None  # None while pending
    healthy: bool  # passes the group's health checks
    failure: str | None = None  # why the group would give up on it (unhealthy, gone)


class Fleet(Protocol):
    """The group's instances, as a refresh needs to see and change them."""

    def instance_ids(self) -> list[str]:
        """Live members: pending and in service."""
        ...

    def outdated(self, ref: TemplateRef) -> list[str]:
        """Instances not launched from the version ``ref`` resolves to."""
        ...

    def capacity(self) -> int: ...

    def launch(self, count: int, ref: TemplateRef, cause: Cause = Cause.REFRESH_IN) -> list[str]:
        """Launch from ``ref``; each launch is a scaling activity for ``cause``."""
        ...

    def retire(self, instance_ids: Sequence[str], cause: Cause = Cause.REFRESH_OUT) -> None: ...

    def progress(self, instance_id: str, now: datetime) -> Progress: ...

    def set_template(self, ref: TemplateRef) -> None: ...

    def held(self, instance_id: str) -> Hold | None:
        """Whether the instance is in Standby or protected from scale in."""
        ...

    def alarming(self, names: Sequence[str]) -> list[str]:
        """Those of the named CloudWatch alarms that are in the ALARM state."""
        ...


@dataclass(frozen=True, slots=True)
class Pace:
    """The preferences that pace a replacement."""

    min_healthy: int
    max_healthy: int
    warmup: int
    checkpoints: tuple[int, ...] = ()
    checkpoint_delay: int = 0
    holds: HoldPolicy = field(default_factory=HoldPolicy)
    max_explicit: bool = False  # MaxHealthyPercentage was sent: AWS paces differently (1.2)


def launches_first(*, pace: Pace, capacity: int, live: int, busy: int) -> bool:
    """Whether the next batch launches its instances before retiring the old ones."""
    if pace.max_healthy > 100:
        return True
    least = math.ceil(capacity * pace.min_healthy / 100)
    return pace.max_explicit and (live - busy) - least <= 0


def retire_first(*, pace: Pace, capacity: int, live: int, busy: int, count: int) -> int:
    """How many of a batch of ``count`` old instances go before their replacements are ready."""
    least = math.ceil(capacity * pace.min_healthy / 100)
    if pace.max_healthy > 100:
        return max(0, min(count, (live - busy) - least))
    return 0 if launches_first(pace=pace, capacity=capacity, live=live, busy=busy) else count


def batch_size(
    *, pace: Pace, capacity: int, live: int, busy: int, waiting: int, room: int | None
) -> int:
    """How many instances to start replacing now.

    ``live``: instances in the group; ``busy``: replacements launched and not ready yet;
    ``waiting``: old instances still to replace; ``room``: how many more fit before the next
    checkpoint (None: no checkpoint ahead).
    """
    least = math.ceil(capacity * pace.min_healthy / 100)
    spare = (live - busy) - least  # healthy instances above the minimum
    if pace.max_healthy > 100:
        most = math.floor(capacity * pace.max_healthy / 100)
        allowed = (most - live) + max(0, spare)
    else:
        allowed = spare
    if allowed <= 0 and busy == 0:
        allowed = 1  # AWS replaces at least one at a time rather than stall
    limit = waiting if room is None else min(waiting, room)
    return max(0, min(allowed, limit))


@dataclass(slots=True)
class Replacement:
    target: TemplateRef
    pace: Pace
    waiting: list[str]  # old instances not yet taken on, in the order they will be
    total: int
    done: int = 0
    # new instance -> the old one it replaces, when that one is retired only once it is ready
    launched: dict[str, str | None] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)  # new instances counted in ``done``
    # healed replacements of instances already replaced or outside the refresh: waited for
    # before the refresh may finish, but not counted again
    adopted: list[str] = field(default_factory=list)
    checkpoints_passed: int = 0
    paused_until: datetime | None = None
    held_since: datetime | None = None  # since when only held instances are left to take on
    failing_since: datetime | None = None  # first health failure not yet followed by progress
    last_failure: str = ""  # the newest such failure: the reason when the hour runs out
    retries: int = 0  # new instances terminated and replaced because they failed
    note: str = ""  # what it is waiting for: the refresh's StatusReason while in progress

    @classmethod
    def of(cls, target: TemplateRef, pace: Pace, old: Sequence[str]) -> Replacement:
        return cls(target=target, pace=pace, waiting=list(old), total=len(old))

    @property
    def percentage(self) -> int:
        return 100 if self.total == 0 else self.done * 100 // self.total

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def finished(self) -> bool:
        return not self.waiting and not self.launched and not self.adopted

    def adopt(self, old: str, new: str) -> None:
        """Health checks replaced ``old`` with ``new``, launched from this target (row A5).

        An old instance still to replace is thereby replaced: ``new`` counts for it once warmed
        up and healthy. Any other is waited for, so the refresh cannot end on a Pending one.
        """
        if old in self.waiting:
            self.waiting.remove(old)
            self.launched[new] = None
        else:
            self.adopted.append(new)

    def step(self, fleet: Fleet, now: datetime) -> str | None:
        """Move on to ``now``; returns why it failed, or None."""
        failure = self._collect(fleet, now)
        if failure is not None:
            return failure
        live = set(fleet.instance_ids())
        vanished = [i for i in self.waiting if i not in live]
        if vanished:  # terminated by someone else (scale-in, health): nothing left to replace
            self.waiting = [i for i in self.waiting if i in live]
            self.total -= len(vanished)
        self._sort_held(fleet)
        if self._paused(now) or self._checkpoint(now):
            return None
        return self._start_batch(fleet, now)

    def settle(self, fleet: Fleet, now: datetime) -> bool:
        """Cancelling: launch nothing more; True once every launched instance is in service."""
        self.waiting = []
        for new in [*self.launched, *self.adopted]:
            progress = fleet.progress(new, now)
            if progress.in_service_at is not None or progress.failure is not None:
                self.launched.pop(new, None)
                if new in self.adopted:
                    self.adopted.remove(new)
        return not self.launched and not self.adopted

    def _collect(self, fleet: Fleet, now: datetime) -> str | None:
        timed_out = self._timed_out(now)
        if timed_out is not None:
            return timed_out
        self._collect_adopted(fleet, now)
        warmup = timedelta(seconds=self.pace.warmup)
        for new, old in list(self.launched.items()):
            progress = fleet.progress(new, now)
            if progress.failure is not None:
                self._retry(fleet, now, new, f"{new}: {progress.failure}")
                continue
            if progress.in_service_at is None or now < progress.in_service_at + warmup:
                self._note(_warming(new))
                continue
            if not progress.healthy:
                self._note(
                    "Waiting for instances to pass health checks before continuing. "
                    f"For example: {new} has not passed its health checks yet."
                )
                continue
            del self.launched[new]
            self.done += 1
            self.replaced.append(new)
            self.failing_since = None  # progress: the hour starts again at the next failure
            if old is not None:
                fleet.retire([old])
        return None

    def _collect_adopted(self, fleet: Fleet, now: datetime) -> None:
        """Healed replacements leave the list once ready; failed ones are the healer's again."""
        warmup = timedelta(seconds=self.pace.warmup)
        for new in list(self.adopted):
            progress = fleet.progress(new, now)
            ready = progress.in_service_at is not None and now >= progress.in_service_at + warmup
            if progress.failure is not None or (ready and progress.healthy):
                self.adopted.remove(new)

    def _note(self, text: str) -> None:
        # While failed instances are being replaced, the retry says more than "warming up".
        if self.failing_since is None:
            self.note = text

    def _timed_out(self, now: datetime) -> str | None:
        if self.failing_since is None:
            return None
        if now < self.failing_since + timedelta(seconds=RETRY_LIMIT_SECONDS):
            return None
        return (
            f"new instances kept failing their health checks for one hour "
            f"({self.retries} replaced). The last: {self.last_failure}"
        )

    def _retry(self, fleet: Fleet, now: datetime, new: str, failure: str) -> None:
        """Terminate a failed new instance and launch another from the same version."""
        old = self.launched.pop(new)
        if self.failing_since is None:
            self.failing_since = now
        self.last_failure = failure
        self.retries += 1
        # AWS's health checks take it out, so the activities carry the health-check causes.
        fleet.retire([new], Cause.ELB_HEALTH)
        (fresh,) = fleet.launch(1, self.target, Cause.HEALED)
        self.launched[fresh] = old
        # The prefix is AWS's own wording for this wait (re:Post, quoted in aws-facts 1.5).
        self.note = (
            "Waiting for remaining instances to be available. For example: "
            f"{new} failed its health checks and was replaced by {fresh}."
        )

    def _paused(self, now: datetime) -> bool:
        if self.paused_until is None:
            return False
        if now < self.paused_until:
            return True
        self.paused_until = None
        return False

    def _checkpoint(self, now: datetime) -> bool:
        """Pause at a checkpoint just reached; the 100% one ends the refresh instead."""
        points = self.pace.checkpoints
        if self.launched or self.checkpoints_passed >= len(points):
            return False
        point = points[self.checkpoints_passed]
        if self.percentage < point:
            return False
        self.checkpoints_passed += 1
        if point >= 100 or self.finished:
            return False
        self.paused_until = now + timedelta(seconds=self.pace.checkpoint_delay)
        self.note = (
            f"Checkpoint {self.checkpoints_passed} of {len(points)} reached ({point}% of "
            f"instances replaced). Waiting {self.pace.checkpoint_delay} seconds before continuing."
        )
        return True

    def _room(self) -> int | None:
        points = self.pace.checkpoints[self.checkpoints_passed :]
        if not points:
            return None
        upto = math.ceil(self.total * points[0] / 100)
        return max(0, upto - self.done - len(self.launched))

    def _sort_held(self, fleet: Fleet) -> None:
        """Leave out, or terminate, the held instances the preferences say to."""
        keep = []
        for old in self.waiting:
            action = self.pace.holds.action(fleet.held(old))
            if action is Action.TERMINATE:
                fleet.retire([old])
            if action in (Action.TERMINATE, Action.SKIP):
                self.total -= 1  # nothing to replace: it never counts toward the percentage
            else:
                keep.append(old)
        self.waiting = keep

    def _wait_for_held(self, fleet: Fleet, ready: list[str], now: datetime) -> str | None:
        """Only held instances left to take on: wait for them, for an hour; then the failure."""
        held = [i for i in self.waiting if i not in ready]
        hold = fleet.held(held[0]) if held else None
        if ready or self.launched or hold is None:
            self.held_since = None
            return None
        if self.held_since is None:
            self.held_since = now
        if now >= self.held_since + timedelta(seconds=holds.WAIT_LIMIT_SECONDS):
            return holds.timed_out(held[0], hold)
        self.note = holds.waiting_note(held[0], hold, len(held))
        return None

    def _start_batch(self, fleet: Fleet, now: datetime) -> str | None:
        ready = [i for i in self.waiting if self.pace.holds.action(fleet.held(i)) is Action.REPLACE]
        blocked = self._wait_for_held(fleet, ready, now)
        if blocked is not None or not ready:
            return blocked
        count = batch_size(
            pace=self.pace,
            capacity=fleet.capacity(),
            live=len(fleet.instance_ids()),
            busy=len(self.launched),
            waiting=len(ready),
            room=self._room(),
        )
        if count <= 0:
            return None
        old = ready[:count]
        self.waiting = [i for i in self.waiting if i not in old]
        first = retire_first(
            pace=self.pace,
            capacity=fleet.capacity(),
            live=len(fleet.instance_ids()),
            busy=len(self.launched),
            count=count,
        )
        fleet.retire(old[:first])
        new = fleet.launch(count, self.target)
        for index, (new_id, old_id) in enumerate(zip(new, old, strict=True)):
            self.launched[new_id] = None if index < first else old_id
        self.note = _warming(new[0])
        return None


def _warming(instance_id: str) -> str:
    return (
        "Waiting for instances to warm up before continuing. "
        f"For example: {instance_id} is warming up."
    )
