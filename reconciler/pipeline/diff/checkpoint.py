"""The checkpoint gate: a refresh goes past a checkpoint only when the analysis of the instances
so far passes. Pure: decided from what AWS reports, never from memory.

How it works with AWS (aws-facts 1.4, 1.7, 1.11; UG-ckpt, UG-skip, UG-cancel):

- A gated rollout (analysis on, a checkpoint below 100) is started with ``CheckpointDelay``
  at its maximum, ``HOLD_DELAY`` (172800 s, [M RefreshPreferences.CheckpointDelay]), so AWS
  waits at each checkpoint instead of moving on by itself once the user's delay runs out. The
  user's ``checkpointDelay`` (AWS's 3600 s when not declared) becomes the least time the
  reconciler holds there.
- ``held_at``: the refresh is held at a checkpoint when it is ``InProgress``, was asked for the
  hold delay, and its ``PercentageComplete`` is at or above one of its own
  ``CheckpointPercentages`` below 100. Both numbers are in the same frame, AWS's, whatever it
  counts skipped instances as; when several are crossed at once AWS waits only at the highest.
- ``gate``: FAIL is the judgement's (rolled back, as anywhere in a rollout); PASS with the
  user's delay elapsed since the checkpoint was reached → CONTINUE; anything else (PENDING,
  INCONCLUSIVE, no analysis read, the delay still running) → HOLD, saying why. Missing data is
  never a pass. The moment the checkpoint was reached is the last launch of this refresh to go
  InService plus its warmup (AWS counts an instance only once healthy and warmed up): a lower
  bound, so the hold is never shorter than the delay by more than the health checks took.
- AWS has no "resume" call: the only way past a held checkpoint is to cancel the refresh (which
  rolls nothing back) and start another for the same version with ``SkipMatching`` (instances
  already on it are not replaced) and the checkpoints still ahead. Before the cancel the group
  is tagged ``TAG_CHECKPOINT`` (``Passed``): the refresh cancelled, the checkpoint passed, and
  the chain's first refresh and its start, so the next tick (or a restarted daemon) tells this
  cancel from a human's, continues it, and judges the chain as one rollout from its first
  refresh's start (``origin``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum

from reconciler.model import (
    TAG_CHECKPOINT,
    AnalysisInputs,
    AnalysisResult,
    Change,
    ChangeKind,
    ObservedRefresh,
    RefreshStatus,
    Resource,
    RolloutSpec,
    Verdict,
)

HOLD_DELAY = 172_800  # CheckpointDelay's maximum [M RefreshPreferences.CheckpointDelay]
AWS_DEFAULT_DELAY = 3600  # what AWS waits when CheckpointDelay is not given (UG-defaults)
FIELD = "checkpoint"  # the Change field that means "go past the checkpoint"


class Move(StrEnum):
    HOLD = "hold"
    CONTINUE = "continue"
    STOP = "stop"  # the analysis failed: the judgement rolls the refresh back


@dataclasses.dataclass(frozen=True, slots=True)
class Gate:
    checkpoint: int
    move: Move
    why: str
    remaining: tuple[int, ...]  # the refresh's checkpoints after this one


@dataclasses.dataclass(frozen=True, slots=True)
class Passed:
    """``TAG_CHECKPOINT``'s value: the reconciler cancelled ``refresh_id`` to go past
    ``checkpoint``; the chain began with ``origin_id``, started at ``since`` (epoch s)."""

    refresh_id: str
    checkpoint: int
    origin_id: str
    since: int

    def text(self) -> str:
        # Tag values allow letters, digits, spaces and _.:/=+-@ (AWS tag restrictions).
        return (
            f"refresh={self.refresh_id} checkpoint={self.checkpoint}"
            f" origin={self.origin_id} since={self.since}"
        )


def parse_passed(text: str) -> Passed | None:
    fields = dict(part.partition("=")[::2] for part in text.split())
    try:
        return Passed(
            refresh_id=fields["refresh"],
            checkpoint=int(fields["checkpoint"]),
            origin_id=fields["origin"],
            since=int(fields["since"]),
        )
    except (KeyError, ValueError):
        return None  # not ours to read: no chain


def gated(rollout: RolloutSpec) -> bool:
    """Whether a rollout's refreshes are held at their checkpoints for the analysis."""
    return rollout.analysis.enabled and any(p < 100 for p in rollout.checkpoint_percentages)


def least_hold(rollout: RolloutSpec) -> int:
    """The user's checkpointDelay, or what AWS would have waited without one."""
    return rollout.checkpoint_delay if rollout.checkpoint_delay is not None else AWS_DEFAULT_DELAY


def held_at(refresh: ObservedRefresh) -> int | None:
    """The checkpoint AWS holds ``refresh`` at for the reconciler, or None."""
    if (refresh.checkpoint_delay or 0) < HOLD_DELAY:
        return None  # AWS moves on by itself: not a gate of ours
    return at_checkpoint(refresh)


def at_checkpoint(refresh: ObservedRefresh) -> int | None:
    """The checkpoint ``refresh`` pauses at, held by us or waiting out its own delay, or None.

    AWS pauses an ``InProgress`` refresh once ``PercentageComplete`` reaches one of its
    ``CheckpointPercentages`` below 100, and waits there the delay (UG-ckpt, aws-facts 1.4); when
    several are crossed at once only the highest is waited on. AWS reports no "paused" status,
    so the percentage is what tells."""
    if refresh.status is not RefreshStatus.IN_PROGRESS:
        return None
    reached = [p for p in refresh.checkpoint_percentages if refresh.percentage_complete >= p]
    return max(reached) if reached and max(reached) < 100 else None


def remaining(refresh: ObservedRefresh, checkpoint: int) -> tuple[int, ...]:
    return tuple(p for p in refresh.checkpoint_percentages if p > checkpoint)


def reached_at(refresh: ObservedRefresh, inputs: AnalysisInputs) -> float | None:
    """When the checkpoint was reached, at the earliest: this refresh's last launch to go
    InService, plus its warmup. None when no launch of this refresh is known."""
    start = epoch(refresh.start_time)
    if start is None:
        return None
    times = [
        i.in_service_at
        for i in inputs.instances
        if i.in_service_at is not None and (i.launched_at or i.in_service_at) >= start
    ]
    if not times:
        return None
    warmup = refresh.instance_warmup if refresh.instance_warmup is not None else inputs.grace_period
    return max(times) + warmup


def gate(
    rollout: RolloutSpec,
    refresh: ObservedRefresh,
    *,
    result: AnalysisResult | None,
    inputs: AnalysisInputs | None,
) -> Gate | None:
    """What to do with a refresh held at a checkpoint; None when it is not held at one."""
    point = held_at(refresh)
    if point is None:
        return None
    ahead = remaining(refresh, point)

    def decided(move: Move, why: str) -> Gate:
        return Gate(point, move, why, ahead)

    if not rollout.analysis.enabled:
        if rollout.checkpoint_delay == HOLD_DELAY:
            return None  # the user's own 48-hour pause, which AWS keeps by itself
        # Held for an analysis since turned off: nothing left to wait for.
        return decided(Move.CONTINUE, "analysis off")
    if result is None or inputs is None:
        return decided(Move.HOLD, "analysis not read")
    if result.verdict is Verdict.FAIL:
        return decided(Move.STOP, f"analysis failed ({result.message})")
    if result.verdict is not Verdict.PASS:
        return decided(Move.HOLD, f"analysis {result.verdict.value.lower()} ({result.message})")
    delay = least_hold(rollout)
    since = reached_at(refresh, inputs)
    if since is None:
        return decided(Move.HOLD, "analysis passes; when the checkpoint was reached is unknown")
    left = since + delay - inputs.observed_at
    if left > 0:
        return decided(
            Move.HOLD, f"analysis passes; checkpointDelay {delay} s, {left:.0f} s of it left"
        )
    return decided(Move.CONTINUE, f"analysis passes ({result.message})")


# -- the chain of refreshes that is one rollout ----------------------------------------------


def passed_marker(tags: Mapping[str, str]) -> Passed | None:
    text = tags.get(TAG_CHECKPOINT)
    return parse_passed(text) if text else None


def origin(refreshes: Sequence[ObservedRefresh], tags: Mapping[str, str]) -> Passed | None:
    """The marker that makes the newest refresh part of a chain, or None if it starts its own.

    The newest refresh is in a chain when the marker names it (we cancelled it to go past a
    checkpoint) or names the refresh just before it, Cancelled, for the same version (the newest
    is the continuation we started).
    """
    marker = passed_marker(tags)
    if marker is None or not refreshes:
        return None
    newest = refreshes[0]
    if marker.refresh_id == newest.refresh_id:
        return marker
    if len(refreshes) < 2:
        return None
    before = refreshes[1]
    if (
        before.refresh_id == marker.refresh_id
        and before.status is RefreshStatus.CANCELLED
        and before.rollback is None
        and before.desired_version == newest.desired_version
    ):
        return marker
    return None


def rollout_start(refreshes: Sequence[ObservedRefresh], tags: Mapping[str, str]) -> float | None:
    """When the rollout the newest refresh belongs to began: its chain's first refresh."""
    marker = origin(refreshes, tags)
    if marker is not None:
        return float(marker.since)
    return epoch(refreshes[0].start_time) if refreshes else None


def pending(refreshes: Sequence[ObservedRefresh], tags: Mapping[str, str]) -> Passed | None:
    """The marker of our cancel at a checkpoint when that refresh has ended Cancelled and no
    other started since: the continuation is still to be started."""
    marker = passed_marker(tags)
    if marker is None or not refreshes:
        return None
    newest = refreshes[0]
    if (
        newest.refresh_id == marker.refresh_id
        and newest.status is RefreshStatus.CANCELLED
        and newest.rollback is None
    ):
        return marker
    return None


def next_marker(
    refreshes: Sequence[ObservedRefresh], tags: Mapping[str, str], *, checkpoint: int
) -> Passed:
    """The marker to write before cancelling the newest refresh at ``checkpoint``."""
    newest = refreshes[0]
    chain = origin(refreshes, tags)
    if chain is not None:
        return Passed(newest.refresh_id, checkpoint, chain.origin_id, chain.since)
    since = int(epoch(newest.start_time) or 0)
    return Passed(newest.refresh_id, checkpoint, newest.refresh_id, since)


def continue_change(refresh: ObservedRefresh, marker: Passed) -> Change:
    """The diff's record of going past a checkpoint: tag the group, cancel ``refresh``."""
    return Change(
        Resource.INSTANCE_REFRESH,
        refresh.refresh_id,
        FIELD,
        f"held at {marker.checkpoint}%",
        marker.text(),
        ChangeKind.UPDATE,
    )


def epoch(text: str) -> float | None:
    """A refresh's StartTime as the observed record keeps it (ISO 8601), in epoch seconds."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
