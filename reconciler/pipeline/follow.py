"""``apply --wait``: reconcile until every service is Ready, a rollout fails, or time runs out."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reconciler.model import ConditionType, Reason, ServiceOutcome, ServiceSpec
from reconciler.pipeline.reconcile import Reconciler
from reconciler.pipeline.status import ServiceStatus, service_status


class Verdict(enum.IntEnum):
    """Exit codes of ``apply --wait``."""

    READY = 0
    ERROR = 1
    FAILED = 3
    TIMEOUT = 4


@dataclass
class Follower:
    reconciler: Reconciler
    specs: Sequence[ServiceSpec]
    timeout: float
    interval: float = 5.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    report: Callable[[ServiceStatus], None] = lambda _status: None

    def run(self) -> Verdict:
        deadline = self.clock() + self.timeout
        while True:
            outcomes = self.reconciler.compute(self.specs)
            self.reconciler.apply(outcomes)
            statuses = [service_status(o) for o in outcomes]
            for status in statuses:
                self.report(status)
            verdict = judge(outcomes, statuses)
            if verdict is not None:
                return verdict
            if self.clock() >= deadline:
                return Verdict.TIMEOUT
            self.sleep(self.interval)


def judge(outcomes: Sequence[ServiceOutcome], statuses: Sequence[ServiceStatus]) -> Verdict | None:
    """A final verdict, or None to keep following."""
    if any(s.condition(ConditionType.DEGRADED).reason == Reason.ROLLOUT_FAILED for s in statuses):
        return Verdict.FAILED
    if any(s.condition(ConditionType.STALLED).status for s in statuses):
        return Verdict.ERROR
    if all(s.condition(ConditionType.READY).status for s in statuses) and all(
        o.plan is None or o.plan.empty for o in outcomes
    ):
        return Verdict.READY
    return None


def progress_line(status: ServiceStatus) -> str:
    """``feedback: Progressing RefreshInProgress 50% (1 to update) ...``: one line per poll."""
    ready = status.condition(ConditionType.READY)
    if ready.status:
        return f"{status.name}: Ready"
    active = next((c for c in status.conditions[1:] if c.status), ready)
    line = f"{status.name}: {active.type} {active.reason}"
    if status.refresh is not None:
        r = status.refresh
        line += f" {r.percentage_complete}% ({r.instances_to_update} to update, {r.status.value})"
    return f"{line}: {active.message}" if active.message else line
