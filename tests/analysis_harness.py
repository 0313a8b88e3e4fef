"""A daemon following a desired directory, ticked by hand against the frozen sandbox: the
harness of the rollout-analysis end-to-end tests (test_analysis_e2e, test_analysis_faults).

``Story.begin`` freezes the sandbox clock, lets ``BASELINE`` sandbox seconds of traffic pass
(the analysis's default baseline window, so the target group has a baseline before the rollout)
and writes ``desired/desired.yaml`` for a tag with the rollout settings a test chooses. A
``Daemon`` (real ``Reconciler``, real boto3 over HTTP) follows that directory as a
``LocalSource``: rewriting the file is a new revision, as a commit would be. ``tick`` runs one
daemon pass, records what it reported and what AWS holds, and moves the clock ``TICK`` seconds,
a daemon's ``--interval 30s``. Nothing here reaches into the product: every reading is the
daemon's own status or a boto3 call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.aws import Aws
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.source import LocalSource
from reconciler.images.resolver import ImageResolver
from reconciler.model import AnalysisResult, Sample, Signal, Verdict
from reconciler.pipeline.reconcile import Reconciler
from reconciler.pipeline.status import ServiceStatus
from reconciler.sandbox import Sandbox
from reconciler.sandbox.seed import GROUP
from tests.test_e2e_core import sandbox_copy

TICK = 30.0  # sandbox seconds between two daemon passes
BASELINE = 1800.0  # the analysis's default baselineWindow: traffic before the rollout
SETTLE_STEP = 120.0  # sandbox seconds between passes once the verdict is in
LIMIT = 3 * 3600.0  # sandbox seconds a wait may take: AWS's hour of retries, and room to spare
SERVICE = "feedback"
# The seed's rollout (desired/desired.yaml); a test overrides some keys or adds others.
SEED_ROLLOUT: dict[str, Any] = {
    "minHealthyPercentage": 50,
    "maxHealthyPercentage": 100,
    "instanceWarmup": 300,
    "checkpointPercentages": [50, 100],
    "checkpointDelay": 60,
    "autoRollback": True,
}


def rollout_yaml(**overrides: Any) -> str:
    """The ``rollout:`` block, the seed's with ``overrides`` (``None`` drops a key). Values are
    written as JSON, which is YAML's flow style, so a nested ``analysis`` needs no indenting."""
    chosen = {k: v for k, v in {**SEED_ROLLOUT, **overrides}.items() if v is not None}
    return "  rollout:\n" + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in chosen.items())


def desired_text(template: str, **rollout: Any) -> str:
    """``template`` (a desired.yaml) with its rollout block replaced."""
    head, _, rest = template.partition("  rollout:\n")
    _, _, tail = rest.partition("  scaling:\n")
    return f"{head}{rollout_yaml(**rollout)}  scaling:\n{tail}"


@dataclass
class Seen:
    """One tick: the sandbox time after the pass, the daemon's status, AWS's newest refresh."""

    at: float
    status: ServiceStatus
    refresh: dict[str, Any] | None

    @property
    def analysis(self) -> AnalysisResult | None:
        return self.status.analysis

    @property
    def refresh_status(self) -> str:
        return str(self.refresh["Status"]) if self.refresh else ""


@dataclass
class Story:
    sandbox: Sandbox
    path: Path  # desired/desired.yaml, which the daemon follows
    daemon: Daemon
    seen: list[Seen] = field(default_factory=list)
    watcher: Aws = field(init=False)  # the test's own reads, kept out of the daemon's counts

    def __post_init__(self) -> None:
        self.watcher = self.sandbox.aws()

    @classmethod
    def begin(
        cls,
        sandbox: Sandbox,
        tmp_path: Path,
        tag: str,
        *,
        aws: Aws | None = None,
        baseline: float = BASELINE,
        **rollout: Any,
    ) -> Story:
        """``rollout`` overrides the seed's rollout keys; ``aws`` is the daemon's (e.g. through
        a fault proxy), a fresh one to the sandbox by default."""
        sandbox.clock.speed = 0
        sandbox.clock.advance(baseline)
        path = sandbox_copy(tmp_path, tag=tag)
        path.write_text(desired_text(path.read_text(), **rollout))
        return cls(sandbox, path, new_daemon(sandbox, path, aws=aws))

    # -- the desired state -------------------------------------------------------------------

    def deploy(self, tag: str, **rollout: Any) -> None:
        """A new revision: ``tag`` with these rollout settings."""
        text = self.path.read_text()
        lines = [
            f"    tag: {tag}" if line.startswith("    tag: ") else line
            for line in text.splitlines()
        ]
        self.path.write_text(desired_text("\n".join(lines) + "\n", **rollout))

    # -- time --------------------------------------------------------------------------------

    def now(self) -> float:
        return self.sandbox.clock.now().timestamp()

    def tick(self, *, step: float = TICK) -> Seen:
        """One daemon pass, recorded; then the clock moves ``step`` seconds."""
        result = self.daemon.tick()
        assert result.ok, self.daemon.report()
        seen = Seen(self.now(), self.daemon.statuses()[SERVICE], self.refresh())
        self.seen.append(seen)
        self.sandbox.clock.advance(step)
        return seen

    def until(
        self, done: Callable[[Seen], bool], *, step: float = TICK, limit: float = LIMIT
    ) -> Seen:
        """Tick until ``done(seen)``; fails after ``limit`` sandbox seconds."""
        started = self.now()
        while True:
            seen = self.tick(step=step)
            if done(seen):
                return seen
            assert self.now() - started < limit, f"not done in {limit:.0f} sandbox s: {seen}"

    def settle(self, *, step: float = SETTLE_STEP, limit: float = LIMIT) -> Seen:
        """Tick until AWS holds no active refresh for the group and the daemon saw that; in
        bigger steps, as what is left (a rollback, a cancel) is AWS's alone."""
        return self.until(lambda s: s.refresh_status in ENDED, step=step, limit=limit)

    # -- AWS, read by the test ---------------------------------------------------------------

    def refresh(self) -> dict[str, Any] | None:
        found = self.watcher.call(
            "autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP
        )["InstanceRefreshes"]
        return dict(found[0]) if found else None

    def refreshes(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.watcher.call(
            "autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP
        )["InstanceRefreshes"]
        return found

    def group(self) -> dict[str, Any]:
        found: dict[str, Any] = self.watcher.call(
            "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
        )["AutoScalingGroups"][0]
        return found

    def tags(self) -> dict[str, str]:
        return {str(t["Key"]): str(t["Value"]) for t in self.group().get("Tags", [])}

    # -- what the daemon reported ------------------------------------------------------------

    def refresh_statuses(self) -> list[str]:
        """AWS's statuses of the newest refresh, one entry per change, oldest first."""
        found: list[str] = []
        for seen in self.seen:
            if seen.refresh_status and (not found or found[-1] != seen.refresh_status):
                found.append(seen.refresh_status)
        return found

    def verdicts(self) -> list[Verdict]:
        return [s.analysis.verdict for s in self.seen if s.analysis is not None]


ENDED = frozenset({"Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"})


def new_daemon(sandbox: Sandbox, path: Path, *, aws: Aws | None = None) -> Daemon:
    """A daemon with nothing in memory: its own reconciler and metrics, and its own Aws unless
    one is given."""
    aws = aws or sandbox.aws()
    return Daemon(
        source=LocalSource(paths=[path.parent]),
        reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws)),
        interval=TICK,
        jitter=0.0,
        clock=lambda: sandbox.clock.now().timestamp(),
    )


def signal(result: AnalysisResult | None, which: Signal) -> tuple[Verdict, str, tuple[Sample, ...]]:
    """(verdict, message, samples) of one signal; fails the test if the signal is absent."""
    assert result is not None, "no analysis"
    found = result.signal(which)
    assert found is not None, f"no {which.value} signal in {result}"
    return found.verdict, found.message, found.samples


def condition(seen: Seen, kind: str) -> tuple[bool, str, str]:
    found = seen.status.condition(kind)
    return found.status, str(found.reason), found.message
