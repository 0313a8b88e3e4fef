"""Status conditions, as Kubernetes reports them: a type, whether it holds, a machine-readable
reason, a message for humans, and when the condition last changed.

The types and the fixed reasons are constants here so that writers (``pipeline.status``) and
readers (``apply --wait``, the demo, tests) name them the same way. A Stalled condition may also
carry the name of the error that stalled it (``ImageNotFound``), so ``reason`` is a plain string.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ConditionType(enum.StrEnum):
    READY = "Ready"  # AWS matches the desired state and nothing is under way
    PROGRESSING = "Progressing"  # a rollout is under way or about to start
    DEGRADED = "Degraded"  # a rollout failed, or AWS is failing for now (retrying)
    STALLED = "Stalled"  # cannot go on without a change to the desired state or to AWS


class Reason(enum.StrEnum):
    IN_SYNC = "InSync"
    OUT_OF_SYNC = "OutOfSync"
    CHANGES_PENDING = "ChangesPending"
    REFRESH_PROGRESSING = "RefreshProgressing"
    REFRESH_SUPERSEDING = "RefreshSuperseding"
    TRAFFIC_SHIFTING = "TrafficShifting"  # blue/green: a side is prepared, stepped or flipped
    IDLE = "Idle"
    UNKNOWN = "Unknown"
    ROLLOUT_FAILED = "RolloutFailed"
    TEMPORARY_ERROR = "TemporaryError"
    THROTTLED = "Throttled"  # AWS or the write budget said "slow down": retried, never a failure
    WAITING_FOR_ROLLOUT_SLOT = "WaitingForRolloutSlot"  # maxConcurrentRollouts: queued
    NOT_DEGRADED = "NotDegraded"
    BLOCKED = "Blocked"
    NOT_STALLED = "NotStalled"


@dataclass(frozen=True)
class Condition:
    type: str  # a ConditionType
    status: bool
    reason: str  # a Reason, or the name of the error that stalled the service
    message: str = ""
    # When the condition last changed, as AWS recorded it (a refresh's start or end time), so it
    # survives restarts; "" when AWS holds no record of the change (drift, errors, blocks).
    last_transition_time: str = ""
