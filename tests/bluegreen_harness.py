"""A daemon following the shipped blue/green example, ticked by hand against the frozen sandbox:
the harness of the blue/green end-to-end tests.

``Story.begin`` copies ``desired/examples/`` for the sandbox (its ECR image), freezes the clock,
lets the baseline's traffic pass and builds a daemon (real ``Reconciler``, real boto3 over HTTP)
following that directory as a ``LocalSource``; rewriting the file is a new revision, as a commit
would be. Every reading the tests make is the daemon's own status or a boto3 call of their own.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.aws import Aws
from reconciler.cli.demo_repo import for_sandbox
from reconciler.daemon.daemon import Daemon
from reconciler.pipeline.bluegreen_status import BlueGreenStatus
from reconciler.pipeline.status import ServiceStatus
from reconciler.sandbox import Sandbox
from reconciler.sandbox.seed import GREEN_GROUP, GROUP
from tests.analysis_harness import BASELINE, SERVICE, TICK, new_daemon
from tests.test_e2e_core import SANDBOX_IMAGE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "desired" / "examples"
LIMIT = 4 * 3600.0


def example_copy(tmp_path: Path, *, tag: str, replace: Mapping[str, str] | None = None) -> Path:
    target = tmp_path / "desired"
    shutil.copytree(EXAMPLE, target)
    path = target / "blue-green.yaml"
    text = for_sandbox(path.read_text(), SANDBOX_IMAGE)
    text = text.replace("tag: v1.1", f"tag: {tag}")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


@dataclass
class Seen:
    at: float
    status: ServiceStatus
    weights: tuple[int, int]  # (blue, green) as AWS holds them

    @property
    def blue_green(self) -> BlueGreenStatus:
        assert self.status.blue_green is not None, self.status
        return self.status.blue_green

    def ready(self) -> bool:
        return self.status.condition("Ready").status

    def degraded(self) -> bool:
        return self.status.condition("Degraded").reason == "RolloutFailed"


@dataclass
class Story:
    sandbox: Sandbox
    path: Path
    daemon: Daemon
    seen: list[Seen] = field(default_factory=list)
    watcher: Aws = field(init=False)

    def __post_init__(self) -> None:
        self.watcher = self.sandbox.aws()

    @classmethod
    def begin(
        cls,
        sandbox: Sandbox,
        tmp_path: Path,
        tag: str = "v1.1",
        *,
        aws: Aws | None = None,
        replace: Mapping[str, str] | None = None,
    ) -> Story:
        """``aws`` is the daemon's (e.g. through a fault proxy); ``replace`` edits the example."""
        sandbox.clock.speed = 0
        sandbox.clock.advance(BASELINE)
        path = example_copy(tmp_path, tag=tag, replace=replace)
        return cls(sandbox, path, new_daemon(sandbox, path, aws=aws))

    def deploy(self, tag: str) -> None:
        lines = [
            f"    tag: {tag}" if line.startswith("    tag: ") else line
            for line in self.path.read_text().splitlines()
        ]
        self.path.write_text("\n".join(lines) + "\n")

    def restart(self) -> None:
        """A new daemon with nothing in memory, as after a crash."""
        self.daemon = new_daemon(self.sandbox, self.path)

    def now(self) -> float:
        return self.sandbox.clock.now().timestamp()

    def tick(self, *, step: float = TICK) -> Seen:
        result = self.daemon.tick()
        assert result.ok, self.daemon.report()
        seen = Seen(self.now(), self.daemon.statuses()[SERVICE], self.weights())
        self.seen.append(seen)
        self.sandbox.clock.advance(step)
        return seen

    def until(
        self, done: Callable[[Seen], bool], *, step: float = TICK, limit: float = LIMIT
    ) -> Seen:
        started = self.now()
        while True:
            seen = self.tick(step=step)
            if done(seen):
                return seen
            assert self.now() - started < limit, f"not done in {limit:.0f} sandbox s: {seen}"

    def until_weights_leave(self, weights: tuple[int, int], *, limit: float = LIMIT) -> Seen:
        """Tick until AWS holds other weights, whether or not the daemon's passes succeed
        (a fault may fail a pass after its weight write)."""
        started = self.now()
        while self.weights() == weights:
            self.daemon.tick()
            self.sandbox.clock.advance(TICK)
            assert self.now() - started < limit, f"weights still {weights}"
        seen = Seen(self.now(), self.daemon.statuses()[SERVICE], self.weights())
        self.seen.append(seen)
        return seen

    # -- AWS, read by the test ---------------------------------------------------------------

    def weights(self) -> tuple[int, int]:
        listeners = self.watcher.call(
            "elbv2", "describe_listeners", LoadBalancerArn=self._balancer()
        )["Listeners"]
        (listener,) = [li for li in listeners if li["Port"] == 80]
        action = listener["DefaultActions"][0]
        groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
            {"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}
        ]
        by_name = {g["TargetGroupArn"].split(":")[-1].split("/")[1]: g["Weight"] for g in groups}
        return int(by_name.get("feedback-tg", 0)), int(by_name.get("feedback-green-tg", 0))

    def group(self, name: str = GROUP) -> dict[str, Any]:
        found: dict[str, Any] = self.watcher.call(
            "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[name]
        )["AutoScalingGroups"][0]
        return found

    def green(self) -> dict[str, Any]:
        return self.group(GREEN_GROUP)

    def set_weights(self, blue: int, green: int) -> None:
        """A hand edit of the listener, as from the console."""
        arns = {
            t["TargetGroupName"]: t["TargetGroupArn"]
            for t in self.watcher.call("elbv2", "describe_target_groups")["TargetGroups"]
        }
        listeners = self.watcher.call(
            "elbv2", "describe_listeners", LoadBalancerArn=self._balancer()
        )["Listeners"]
        (listener,) = [li for li in listeners if li["Port"] == 80]
        self.watcher.call(
            "elbv2",
            "modify_listener",
            ListenerArn=listener["ListenerArn"],
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": arns["feedback-tg"], "Weight": blue},
                            {"TargetGroupArn": arns["feedback-green-tg"], "Weight": green},
                        ]
                    },
                }
            ],
        )

    def _balancer(self) -> str:
        balancers = self.watcher.call("elbv2", "describe_load_balancers")["LoadBalancers"]
        return str(
            next(b["LoadBalancerArn"] for b in balancers if b["LoadBalancerName"] == "feedback-alb")
        )
