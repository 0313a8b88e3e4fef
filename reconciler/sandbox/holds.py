"""Standby and scale-in-protected instances in a refresh's way: replace, skip, terminate or wait.

[M RefreshPreferences.ScaleInProtectedInstances] and [.StandbyInstances] (section 1.10):

- ``ScaleInProtectedInstances``: ``Refresh`` replaces protected instances like any other,
  ``Ignore`` leaves them out, ``Wait`` (the default) waits one hour for the protection to be
  removed, "otherwise, the instance refresh will fail";
- ``StandbyInstances``: ``Terminate`` terminates Standby instances (they are outside the desired
  capacity, so nothing replaces them), ``Ignore`` leaves them out, ``Wait`` (the default) waits one
  hour for them to return to service, then fails (UG-overview, "One-hour timeout").

The hour counts from the moment such instances are all that is left to replace: until then the
refresh is busy with the others, and an instance freed meanwhile is replaced in its turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

WAIT_LIMIT_SECONDS = 3600


class Hold(StrEnum):
    """Why an instance is not an ordinary one to replace."""

    STANDBY = "in Standby"
    PROTECTED = "protected from scale in"


class Action(StrEnum):
    REPLACE = "replace"
    SKIP = "skip"
    TERMINATE = "terminate"
    WAIT = "wait"


_ACTIONS = {
    (Hold.PROTECTED, "Refresh"): Action.REPLACE,
    (Hold.PROTECTED, "Ignore"): Action.SKIP,
    (Hold.STANDBY, "Terminate"): Action.TERMINATE,
    (Hold.STANDBY, "Ignore"): Action.SKIP,
}


@dataclass(frozen=True, slots=True)
class HoldPolicy:
    """The two preferences, with AWS's default ``Wait`` for each."""

    protected: str = "Wait"
    standby: str = "Wait"

    def action(self, hold: Hold | None) -> Action:
        if hold is None:
            return Action.REPLACE
        choice = self.standby if hold is Hold.STANDBY else self.protected
        return _ACTIONS.get((hold, choice), Action.WAIT)


def waiting_note(instance_id: str, hold: Hold, count: int) -> str:
    return (
        f"Waiting up to one hour for {count} instance(s) "
        f"{'to return to service' if hold is Hold.STANDBY else 'to lose scale-in protection'} "
        f"before continuing. For example: {instance_id} is {hold.value}."
    )


def timed_out(instance_id: str, hold: Hold) -> str:
    preference = "StandbyInstances" if hold is Hold.STANDBY else "ScaleInProtectedInstances"
    return f"{instance_id} is still {hold.value} after one hour ({preference}: Wait)"
