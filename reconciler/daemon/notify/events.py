"""What is worth telling a person, derived from one tick: a pure function of what was told
before (``Memory``) and the finished tick (``TickView``).

Each pass is first read into plain data (``Sighting``), then compared with the memory:

- **rollout_started**: a rollout of a desired state not yet announced (a refresh started or
  in flight, a blue/green side being prepared, warmed or stepped).
- **step_reached**: a checkpoint the refresh went past (a percentage below 100) or a blue/green
  traffic step, once per step of a rollout.
- **rollout_succeeded / rollout_failed / rolled_back**: the rollout ends the daemon saw
  (``daemon.rollouts``, each seen once); a rollback is told as failed (with the reason) then
  rolled back.
- **drift_corrected**: a service last seen in sync with this very desired state had changes,
  and the pass applied them (nobody committed anything: AWS was changed behind git's back).
- **stalled**: a pass left the service Stalled, once per reason.
- **commit_refused**: the newest commit failed validation or its signature check, once per
  commit.

The memory lives in the process. A restart starts it empty, so what still holds then (a rollout
in flight, its current step, a stall, a refused commit) is told once more, at most once; what
ended while no daemon ran (a rollout that succeeded) is not told. A standby derives too, so
its memory is current when it takes over, but only the leader's events are delivered.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.daemon.listeners import TickView
from reconciler.daemon.rollouts import FAILED, ROLLED_BACK, SUCCEEDED, SUPERSEDED
from reconciler.model import (
    ConditionType,
    Phase,
    ServiceOutcome,
    StartInstanceRefresh,
    Verdict,
    value_text,
)
from reconciler.model.traffic import Stage
from reconciler.pipeline.status import ServiceStatus


class Kind(enum.StrEnum):
    ROLLOUT_STARTED = "rollout_started"
    STEP_REACHED = "step_reached"
    ROLLOUT_SUCCEEDED = "rollout_succeeded"
    ROLLOUT_FAILED = "rollout_failed"
    ROLLED_BACK = "rolled_back"
    DRIFT_CORRECTED = "drift_corrected"
    STALLED = "stalled"
    COMMIT_REFUSED = "commit_refused"


class Severity(enum.StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


SEVERITY = {
    Kind.ROLLOUT_STARTED: Severity.INFO,
    Kind.STEP_REACHED: Severity.INFO,
    Kind.ROLLOUT_SUCCEEDED: Severity.SUCCESS,
    Kind.ROLLOUT_FAILED: Severity.ERROR,
    Kind.ROLLED_BACK: Severity.WARNING,
    Kind.DRIFT_CORRECTED: Severity.WARNING,
    Kind.STALLED: Severity.ERROR,
    Kind.COMMIT_REFUSED: Severity.ERROR,
}

_STARTING_STAGES = frozenset({Stage.PREPARING, Stage.WARMING, Stage.STEPPING})


@dataclass(frozen=True)
class Event:
    kind: Kind
    service: str  # "" for a refused commit: it is every service's
    revision: str | None  # the desired commit (the refused one for commit_refused)
    title: str  # one line, for a chat message or a subject
    text: str = ""  # the detail: a reason, the changes
    details: tuple[tuple[str, str], ...] = ()  # ordered facts, e.g. ("step", "2 of 3")
    key: str = ""  # which transition: the same one derived again has the same key

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.kind]


@dataclass(frozen=True)
class Step:
    key: str  # "checkpoint:50", "traffic:2"
    text: str  # "checkpoint 50%", "traffic step 2 of 3 (50%)"


@dataclass(frozen=True)
class Sighting:
    """One service's pass, as plain data: all the events need to know of it."""

    service: str
    revision: str | None  # the desired commit
    fingerprint: str | None  # the desired content; None when the pass stopped before it
    rolling_out: bool = False
    step: Step | None = None
    ended: tuple[str, ...] = ()  # daemon.rollouts outcomes
    changes: tuple[str, ...] = ()  # the diff's changes, in words
    applied: bool = False  # apply did something in this pass
    in_sync: bool = False
    stalled: tuple[str, str] | None = None  # (reason, message) when Stalled
    failure: str = ""  # why the rollout failed, the analysis's words when it judged
    running: str | None = None  # the revision AWS runs after this pass


@dataclass(frozen=True)
class Told:
    """What was told of one service."""

    rollout: str | None = None  # the fingerprint whose start was told, until it ends
    steps: frozenset[str] = frozenset()  # that rollout's steps told
    synced: str | None = None  # the fingerprint last seen in sync
    stalled: str | None = None  # the stall reason told, until it clears


@dataclass(frozen=True)
class Memory:
    services: Mapping[str, Told] = field(default_factory=dict)
    refused: str | None = None  # the refused commit told, until a good one follows


def derive(memory: Memory, view: TickView) -> tuple[Memory, list[Event]]:
    """The events of one tick and the memory after it. Standby ticks derive (so the memory is
    current on takeover) but yield no events."""
    events: list[Event] = []
    refused = view.followed.desired_error
    told = {name: memory.services.get(name, Told()) for name in view.statuses}
    for outcome in view.outcomes:
        status = view.statuses.get(outcome.name)
        if status is None:
            continue
        seen = sighting(outcome, status, view.ended.get(outcome.name, ()))
        # While a commit is refused every service shows Stalled for it: the refusal tells that.
        told[seen.service], found = observe(told[seen.service], seen, refusing=refused is not None)
        events += found
    refused_told = memory.refused
    if refused is None:
        refused_told = None
    elif refused.revision != memory.refused:
        refused_told = refused.revision
        events.append(
            Event(
                Kind.COMMIT_REFUSED,
                "",
                refused.revision,
                f"commit {refused.revision[:12]} refused ({refused.reason})",
                refused.message,
                (("reason", refused.reason), ("revision", refused.revision)),
                key=f"{Kind.COMMIT_REFUSED}:{refused.revision}",
            )
        )
    return Memory(told, refused_told), events if view.leading else []


def observe(told: Told, seen: Sighting, *, refusing: bool = False) -> tuple[Told, list[Event]]:
    """One service's events from one pass, and what is then told of it."""
    events: list[Event] = []
    fp = seen.fingerprint
    if fp is None:  # the pass stopped early (an error): only a stall can be told
        return _stall(told, seen, events, refusing=refusing), events
    if told.rollout is not None and told.rollout != fp:
        told = dataclasses.replace(told, rollout=None, steps=frozenset())  # superseded
    # A rollout first seen as it ends is told by its end; a superseded one was an older state's.
    if seen.rolling_out and told.rollout is None and not set(seen.ended) - {SUPERSEDED}:
        told = dataclasses.replace(told, rollout=fp, steps=frozenset())
        events.append(_event(Kind.ROLLOUT_STARTED, seen, f"{_rollout(seen)} started", key=fp))
    if seen.step is not None and told.rollout == fp and seen.step.key not in told.steps:
        told = dataclasses.replace(told, steps=told.steps | {seen.step.key})
        events.append(
            _event(
                Kind.STEP_REACHED,
                seen,
                f"{_rollout(seen)} reached {seen.step.text}",
                details=(("step", seen.step.text),),
                key=f"{fp}:{seen.step.key}",
            )
        )
    events += _ends(seen)
    if set(seen.ended) - {SUPERSEDED}:
        told = dataclasses.replace(told, rollout=None, steps=frozenset())
    if seen.changes and seen.applied and told.synced == fp:
        events.append(_drift(seen))
    if seen.in_sync:
        told = dataclasses.replace(told, synced=fp)
    elif told.synced != fp:
        told = dataclasses.replace(told, synced=None)
    return _stall(told, seen, events, refusing=refusing), events


def _ends(seen: Sighting) -> list[Event]:
    found: list[Event] = []
    for ended in seen.ended:
        if ended == SUCCEEDED:
            found.append(_event(Kind.ROLLOUT_SUCCEEDED, seen, f"{_rollout(seen)} succeeded"))
        elif ended in (FAILED, ROLLED_BACK):
            found.append(
                _event(Kind.ROLLOUT_FAILED, seen, f"{_rollout(seen)} failed", text=seen.failure)
            )
        if ended == ROLLED_BACK:
            back = f" to {seen.running[:12]}" if seen.running else ""
            running = (("running", seen.running),) if seen.running else ()
            found.append(_event(Kind.ROLLED_BACK, seen, f"rolled back{back}", details=running))
    return found


def _drift(seen: Sighting) -> Event:
    count = len(seen.changes)
    return _event(
        Kind.DRIFT_CORRECTED,
        seen,
        f"drift corrected: {count} change{'s' if count != 1 else ''} undone",
        text="\n".join(seen.changes),
        key=f"{seen.fingerprint}:{'|'.join(seen.changes)}",
    )


def _stall(told: Told, seen: Sighting, events: list[Event], *, refusing: bool) -> Told:
    if refusing:
        return told
    if seen.stalled is None:
        return dataclasses.replace(told, stalled=None) if told.stalled else told
    reason, message = seen.stalled
    if told.stalled == reason:
        return told
    events.append(
        _event(
            Kind.STALLED,
            seen,
            f"stalled ({reason})",
            text=message,
            details=(("reason", reason),),
            key=f"{seen.fingerprint}:{reason}",
        )
    )
    return dataclasses.replace(told, stalled=reason)


def _event(
    kind: Kind,
    seen: Sighting,
    what: str,
    *,
    text: str = "",
    details: tuple[tuple[str, str], ...] = (),
    key: str | None = None,
) -> Event:
    revision = seen.revision
    facts = (("service", seen.service),) + ((("revision", revision),) if revision else ())
    return Event(
        kind,
        seen.service,
        revision,
        f"{seen.service}: {what}",
        text,
        facts + details,
        key=f"{kind}:{seen.service}:{key if key is not None else seen.fingerprint}",
    )


def _rollout(seen: Sighting) -> str:
    return f"rollout of {seen.revision[:12]}" if seen.revision else "rollout"


# ------------------------------------------------------------------------------------------------
# One pass, read into plain data
# ------------------------------------------------------------------------------------------------


def sighting(outcome: ServiceOutcome, status: ServiceStatus, ended: Sequence[str]) -> Sighting:
    diff, desired = outcome.diff, outcome.desired
    done = outcome.applied.done if outcome.applied is not None else []
    stalled = status.condition(ConditionType.STALLED)
    return Sighting(
        service=outcome.name,
        revision=outcome.spec.source.revision,
        fingerprint=desired.fingerprint if desired is not None and diff is not None else None,
        rolling_out=_rolling_out(outcome, status),
        step=_step(outcome, status),
        ended=tuple(ended),
        changes=tuple(
            f"{c.resource} {c.resource_name} {c.field}: {value_text(c.old)} → {value_text(c.new)}"
            for c in (diff.changes if diff is not None else ())
        ),
        applied=bool(done) and outcome.error is None,
        in_sync=diff is not None and diff.in_sync and outcome.error is None,
        stalled=(stalled.reason, stalled.message) if stalled.status else None,
        failure=_failure(outcome, status),
        running=status.applied.revision if status.applied is not None else None,
    )


def _rolling_out(outcome: ServiceOutcome, status: ServiceStatus) -> bool:
    diff = outcome.diff
    if diff is None or diff.phase in (Phase.FAILED, Phase.BLOCKED):
        return False
    done = outcome.applied.done if outcome.applied is not None else []
    if diff.phase is Phase.PROGRESSING or any(isinstance(a, StartInstanceRefresh) for a in done):
        return True
    stage = status.blue_green.stage if status.blue_green is not None else None
    return stage in _STARTING_STAGES and (bool(done) or diff.phase is not Phase.IN_SYNC)


def _step(outcome: ServiceOutcome, status: ServiceStatus) -> Step | None:
    bg = status.blue_green
    if bg is not None:
        if bg.stage != Stage.STEPPING or bg.step is None or not 0 < bg.step <= len(bg.steps):
            return None
        weight = bg.steps[bg.step - 1]
        return Step(f"traffic:{bg.step}", f"traffic step {bg.step} of {len(bg.steps)} ({weight}%)")
    refresh = outcome.diff.refresh if outcome.diff is not None else None
    if refresh is None or not refresh.status.active:
        return None
    reached = [p for p in refresh.checkpoint_percentages if p < 100]
    reached = [p for p in reached if refresh.percentage_complete >= p]
    return Step(f"checkpoint:{max(reached)}", f"checkpoint {max(reached)}%") if reached else None


def _failure(outcome: ServiceOutcome, status: ServiceStatus) -> str:
    """Why a rollout failed: the analysis's verdict when it judged, else what AWS said."""
    analysis = outcome.diff.analysis if outcome.diff is not None else None
    if analysis is not None and analysis.verdict is Verdict.FAIL:
        return analysis.message
    degraded = status.condition(ConditionType.DEGRADED)
    return degraded.message if degraded.status else (status.last_failure or "")
