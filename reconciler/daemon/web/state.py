"""What the page shows, kept up to date by the daemon's tick listener.

The listener keeps, per reconciled service, what the pass already holds in memory: its status,
its diff, and the history and rollouts read off its observed state (no I/O). The page's JSON is
assembled when the page asks, on the HTTP thread, where the commits are looked up in git; so
the page never slows the tick.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.daemon.listeners import TickView
from reconciler.daemon.web import view
from reconciler.daemon.web.commits import CommitLog
from reconciler.daemon.web.history import Rollout, history_rows, rollouts
from reconciler.model import Change, ConditionType, Reason, ServiceOutcome
from reconciler.pipeline.status import Revision, ServiceStatus, history


@dataclass(frozen=True)
class Seen:
    """One service as its last pass left it."""

    status: ServiceStatus
    changes: tuple[Change, ...] = ()
    history: tuple[Revision, ...] = ()
    rollouts: Mapping[int, Rollout] = field(default_factory=dict)
    desired: str | None = None  # the revision the desired state is at
    paused: bool = False


def seen_of(outcome: ServiceOutcome, status: ServiceStatus) -> Seen:
    observed = outcome.observed
    return Seen(
        status=status,
        changes=outcome.diff.changes if outcome.diff is not None else (),
        history=tuple(history(observed)) if observed is not None else (),
        rollouts=rollouts(observed.refreshes) if observed is not None else {},
        desired=outcome.spec.source.revision,
        paused=outcome.spec.paused,
    )


def service_document(seen: Seen, *, commits: CommitLog, repo: str, actions: bool) -> dict[str, Any]:
    status = seen.status
    found = commits.lookup(r.revision for r in seen.history if r.revision)
    applied = status.applied
    return {
        "name": status.name,
        "headline": view.headline(status.conditions),
        "conditions": view.conditions_view(status.conditions),
        "progress": view.progress_view(status),
        "weights": view.weights_view(status),
        "analysis": view.analysis_view(status.analysis),
        "next": status.next_step,
        "changes": view.changes_view(seen.changes),
        "notInSync": view.not_in_sync(status, changes=len(seen.changes)),
        "lastFailure": status.last_failure or "",
        "applied": view.short(applied.revision if applied else None),
        "appliedImage": (applied.image or "") if applied else "",
        "desired": view.short(seen.desired),
        "paused": seen.paused,
        "actions": _actions(seen) if actions else [],
        "history": history_rows(seen.history, rollouts=seen.rollouts, commits=found, repo=repo),
    }


def _actions(seen: Seen) -> list[str]:
    """The actions that make sense now: pause or resume, a rollback once there is history, and a
    retry while the desired revision's rollout has failed."""
    offered = ["resume" if seen.paused else "pause"]
    if len(seen.history) > 1:
        offered.append("rollback")
    if seen.status.condition(ConditionType.DEGRADED).reason == Reason.ROLLOUT_FAILED:
        offered.append("retry")
    return offered


class PageState:
    """The services as the last ticks left them; ``listen`` is the daemon's tick listener."""

    def __init__(
        self,
        *,
        report: Callable[[], dict[str, Any]],
        commits: CommitLog,
        repo: str = "",
        actions: bool = False,
    ) -> None:
        self._report = report
        self._commits = commits
        self._repo = repo
        self.actions = actions
        self._lock = threading.Lock()
        self._seen: dict[str, Seen] = {}
        self._ticks = 0

    def listen(self, tick: TickView) -> None:
        updated = {o.name: seen_of(o, tick.statuses[o.name]) for o in tick.outcomes}
        with self._lock:
            kept = {n: s for n, s in self._seen.items() if n in tick.statuses}
            # A service not due this tick keeps its history; its status is the newest anyway.
            for name, status in tick.statuses.items():
                if name in kept:
                    kept[name] = dataclasses.replace(kept[name], status=status)
                elif name not in updated:
                    kept[name] = Seen(status=status)
            self._seen = {**kept, **updated}
            self._ticks += 1

    def services(self) -> list[str]:
        with self._lock:
            return sorted(self._seen)

    def document(self) -> dict[str, Any]:
        """The page's JSON: the daemon's ``/status`` head, and each service as the page shows it."""
        report = self._report()
        with self._lock:
            seen: Sequence[Seen] = [s for _, s in sorted(self._seen.items())]
            ticks = self._ticks
        return {
            "revision": view.short(report.get("revision")),
            "lastGoodRevision": view.short(report.get("last_good_revision")),
            "desiredError": report.get("desired_error"),
            "sourceError": report.get("source_error"),
            "source": report.get("source", ""),
            "role": report.get("role", ""),
            "ready": bool(report.get("ready")),
            "lastTick": report.get("last_tick"),
            "ticks": ticks,
            "actionsEnabled": self.actions,
            "services": [
                service_document(s, commits=self._commits, repo=self._repo, actions=self.actions)
                for s in seen
            ],
        }
