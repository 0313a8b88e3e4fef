"""Rollouts in waves (``maxConcurrentRollouts``): the limits, what each service's pass says about
its rollout (``RolloutCandidate``), and a queued service's place in line (``QueuedRollout``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RolloutLimits:
    """How many rollouts may run at once: in all (``total``), and in each account
    (``per_account``, or ``accounts[id]`` for one account). None: no limit."""

    total: int | None = None
    per_account: int | None = None
    accounts: Mapping[str, int] = field(default_factory=dict)

    def of_account(self, account: str) -> int | None:
        return self.accounts.get(account, self.per_account)

    @property
    def unlimited(self) -> bool:
        return self.total is None and self.per_account is None and not self.accounts


@dataclass(frozen=True, slots=True)
class RolloutCandidate:
    name: str
    account: str
    running: bool  # a rollout of it is under way: it holds a slot until it ends
    starting: bool  # its plan starts a rollout now: it needs a slot


@dataclass(frozen=True, slots=True)
class QueuedRollout:
    """A service whose rollout waits for a slot: where it stands, and why."""

    position: int  # 1 is next
    queued: int  # how many wait, this one included
    running: int  # rollouts under way in all
    limit: int | None
    account: str
    account_running: int
    account_limit: int | None

    def message(self) -> str:
        full = []
        if self.limit is not None and self.running >= self.limit:
            full.append(f"{self.running} of {self.limit} rollouts run")
        if self.account_limit is not None and self.account_running >= self.account_limit:
            full.append(f"{self.account_running} of {self.account_limit} in account {self.account}")
        why = "; ".join(full) or "the slots free this pass went to services ahead in line"
        return f"waiting for a rollout slot: {self.position} of {self.queued} in the queue ({why})"


@dataclass(frozen=True, slots=True)
class Admission:
    start: frozenset[str]  # may start their rollout now
    queued: Mapping[str, QueuedRollout]  # wait, by name
