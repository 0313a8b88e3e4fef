"""``reconciler demo``: the seed's story, told by the reconciler against the local sandbox.

A temporary git repository holds the desired state, and the daemon follows its ``main`` branch.
Each step of the story (``demo_stories``: the rolling one by default, ``--strategy blue-green``
for the other) is a commit or a revert; the daemon then ticks until the step's expected outcome.

For the bad releases it prints the detection time, the requests the bad image answered (the
blast radius) and the time until the group ran only the good version again. The sandbox clock
is frozen and moved 30 s per tick, so sandbox minutes pass as fast as the machine can go, and
the sandbox sends traffic through the load balancer all along.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from reconciler.cli import render, report
from reconciler.cli.demo_repo import init_repo, load
from reconciler.cli.demo_stories import ROLLING, Step, Story
from reconciler.cli.incident import Incident
from reconciler.daemon.daemon import Daemon
from reconciler.daemon.source import GitSettings, GitSource
from reconciler.errors import DemoFailed
from reconciler.images.resolver import ImageResolver
from reconciler.pipeline.follow import Verdict, progress_line
from reconciler.pipeline.reconcile import Reconciler
from reconciler.pipeline.status import ServiceStatus
from reconciler.sandbox import Sandbox, SandboxClock

TICK_SECONDS = 30.0  # sandbox seconds between two reconciles, like a daemon's --interval 30s
WATCH_TICKS = 5  # further ticks after a failure, to show that nothing is retried
MAX_TICKS = 480  # four sandbox hours: a rollout still going then has failed to settle
SANDBOX_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


BASELINE_SECONDS = 1800  # traffic before the story starts: the analysis's baseline window


class Demo:
    def __init__(self, *, out: TextIO, template_dir: Path, story: Story = ROLLING) -> None:
        self.out = out
        self.template_dir = template_dir
        self.story = story
        self._last = ""  # the last progress line printed

    def run(self) -> int:
        # The demo talks to the sandbox only: fake keys, never the user's real ones.
        os.environ.update(SANDBOX_CREDENTIALS)
        with (
            Sandbox(port=0, clock=SandboxClock(speed=0)) as sandbox,
            tempfile.TemporaryDirectory(prefix="reconciler-demo-") as tmp,
        ):
            seeded = sandbox.seed()
            repo = Path(tmp) / "deploy"
            init_repo(
                repo,
                template_dir=self.template_dir / self.story.directory,
                image=seeded.repository_uri,
                tag="v1.1",
                file=self.story.file,
            )
            self.say(f"sandbox AWS at {sandbox.endpoint}; desired state in git at {repo}")
            daemon = make_daemon(sandbox, repo=repo, cache=Path(tmp) / "cache")
            sandbox.clock.advance(BASELINE_SECONDS)
            try:
                for step in self.story.steps:
                    self.run_step(step, repo=repo, daemon=daemon, sandbox=sandbox)
            except DemoFailed as exc:
                self.say(f"\nDEMO FAILED: {exc}")
                return 1
        self.say(f"\n{self.story.closing}")
        return 0

    def run_step(self, step: Step, *, repo: Path, daemon: Daemon, sandbox: Sandbox) -> None:
        self.say(f"\n=== {step.title}")
        if step.change is not None:
            step.change(repo / "desired" / self.story.file)
        specs = load(repo)
        self.say(f"commit {specs[0].source.revision}")
        outcomes = daemon.reconciler.compute(specs)
        self.say(render.text([o.diff for o in outcomes if o.diff is not None]))
        started, wall = sandbox.clock.now(), time.monotonic()
        incident = None
        if step.bad_image:
            spec = specs[0]
            incident = Incident(
                group=spec.auto_scaling_group.name,
                committed=started,
                served_by=lambda: sandbox.traffic.served[step.bad_image],
                blue_green=spec.blue_green.listener if spec.blue_green else None,
            )
        verdict = self.follow(daemon, sandbox, incident)
        minutes = (sandbox.clock.now() - started).total_seconds() / 60
        self.say(
            f"→ {verdict.name.lower()} after {minutes:.1f} sandbox minutes, "
            f"{time.monotonic() - wall:.1f} s real"
        )
        if verdict is not step.expect:
            raise DemoFailed(f"{step.title}: expected {step.expect.name}, got {verdict.name}")
        if verdict is Verdict.FAILED:
            self.finish_rollback(daemon, sandbox, incident)
            self.watch_no_retry(daemon, sandbox)
        for status in daemon.statuses().values():
            self.say(report.status_text(status))
        if incident is not None:
            self.say(f"incident figures for {step.bad_image}:")
            for line in incident.lines():
                self.say(line)
            if incident.recovered is None:
                raise DemoFailed(f"{step.bad_image} still runs after its rollback")

    def follow(self, daemon: Daemon, sandbox: Sandbox, incident: Incident | None) -> Verdict:
        """Tick the daemon, 30 sandbox seconds apart, until the services settle."""
        for _ in range(MAX_TICKS):
            statuses = self.tick(daemon, sandbox, incident)
            verdict = settled(statuses)
            if verdict is not None:
                return verdict
            sandbox.clock.advance(TICK_SECONDS)
        return Verdict.TIMEOUT

    def finish_rollback(self, daemon: Daemon, sandbox: Sandbox, incident: Incident | None) -> None:
        """Tick on until AWS has finished rolling the failed refresh back."""
        for _ in range(MAX_TICKS):
            statuses = list(daemon.statuses().values())
            if not any(s.refresh is not None and s.refresh.status.active for s in statuses):
                return
            sandbox.clock.advance(TICK_SECONDS)
            self.tick(daemon, sandbox, incident)
        raise DemoFailed("the rollback did not finish in four sandbox hours")

    def tick(
        self, daemon: Daemon, sandbox: Sandbox, incident: Incident | None
    ) -> list[ServiceStatus]:
        daemon.tick()
        statuses = list(daemon.statuses().values())
        for status in statuses:
            line = progress_line(status)
            if line != self._last:
                self.say(f"  [{sandbox.clock.now():%H:%M:%S}] {line}")
                self._last = line
            if incident is not None:
                incident.observe(daemon.reconciler.aws, status, sandbox.clock.now())
        return statuses

    def watch_no_retry(self, daemon: Daemon, sandbox: Sandbox) -> None:
        aws = daemon.reconciler.aws
        aws.reset_counts()
        for _ in range(WATCH_TICKS):
            sandbox.clock.advance(TICK_SECONDS)
            daemon.tick()
        rollouts = {
            op: n
            for op, n in aws.writes().items()
            if op in ("StartInstanceRefresh", "CreateLaunchTemplateVersion")
        }
        self.say(f"  {WATCH_TICKS} more ticks: rollout writes {rollouts or 'none'} (no retry loop)")
        if rollouts:
            raise DemoFailed(f"a failed revision was retried: {rollouts}")

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def settled(statuses: Sequence[ServiceStatus]) -> Verdict | None:
    if any(s.condition("Degraded").reason == "RolloutFailed" for s in statuses):
        return Verdict.FAILED
    if any(s.condition("Stalled").status for s in statuses):
        return Verdict.ERROR
    if statuses and all(s.condition("Ready").status for s in statuses):
        return Verdict.READY
    return None


def make_daemon(sandbox: Sandbox, *, repo: Path, cache: Path) -> Daemon:
    aws = sandbox.aws()
    source = GitSource(GitSettings(repo=str(repo), branch="main", path="desired", cache_dir=cache))
    return Daemon(
        source=source,
        reconciler=Reconciler(aws=aws, resolver=ImageResolver(aws)),
        interval=TICK_SECONDS,
        jitter=0,
        clock=lambda: sandbox.clock.now().timestamp(),
    )


def example_dir() -> Path:
    """The canonical desired/ shipped with the package (a symlink to the top-level desired/)."""
    return Path(__file__).resolve().parent.parent / "examples"
