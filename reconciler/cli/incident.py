"""The figures of a bad release, measured as it happens: detection, blast radius, recovery.

``Incident`` watches one service while the daemon ticks after a commit: when the reconciler
first declared the rollout failed (detection), when the bad release stopped taking traffic
(recovery: the group ran no instance of the bad launch template version any more, or, for
blue/green, the listener sent the bad side nothing), and how many requests the bad image
answered meanwhile (read from the sandbox's traffic, which knows which image served what).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.aws import Aws
from reconciler.model import ListenerRef
from reconciler.pipeline.observe.forwards import observe_forward
from reconciler.pipeline.status import ServiceStatus

# Lifecycle states in which an instance still takes traffic or is about to.
_SERVING = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})


@dataclass
class Incident:
    """One bad release, from its commit at ``committed``."""

    group: str
    committed: datetime
    served_by: Callable[[], int]  # requests the bad image has answered so far
    blue_green: ListenerRef | None = None  # the forward of a blue/green service
    bad_version: int | None = None
    bad_target_group: str | None = None  # blue/green: the bad side's target group
    detected: datetime | None = None
    recovered: datetime | None = None
    _served_at_commit: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._served_at_commit = self.served_by()

    def observe(self, aws: Aws, status: ServiceStatus, now: datetime) -> None:
        """After a tick: note detection, and whether the bad version still runs."""
        if self.detected is None and status.condition("Degraded").reason == "RolloutFailed":
            self.detected = now
            # The failed refresh's version: before the refresh starts, the last attempted
            # revision is still the previous, good one.
            attempted = status.last_attempted
            self.bad_version = attempted.launch_template_version if attempted else None
            self.bad_target_group = _target_side(status)
        waiting = self.detected is not None and self.recovered is None
        if waiting and not self._still_bad(aws):
            self.recovered = now

    def served(self) -> int:
        return self.served_by() - self._served_at_commit

    def lines(self) -> list[str]:
        def minutes(moment: datetime | None) -> str:
            if moment is None:
                return "never"
            return f"{(moment - self.committed).total_seconds() / 60:.1f} sandbox minutes"

        return [
            f"  detected:          {minutes(self.detected)} after the commit",
            f"  {self._recovery_words()}: {minutes(self.recovered)} after the commit",
            f"  blast radius:      {self.served()} requests answered by the bad image",
        ]

    def _recovery_words(self) -> str:
        return "bad side's traffic" if self.blue_green else "only good version"

    def _still_bad(self, aws: Aws) -> bool:
        if self.blue_green is not None:
            return self.bad_target_group is not None and self._routes_bad(aws, self.blue_green)
        return self.bad_version is not None and self._runs_bad(aws)

    def _routes_bad(self, aws: Aws, listener: ListenerRef) -> bool:
        forward = observe_forward(aws, aws.region, listener)
        groups = aws.call("elbv2", "describe_target_groups", Names=[self.bad_target_group])
        arn = groups["TargetGroups"][0]["TargetGroupArn"]
        return forward is not None and forward.weights.get(arn, 0) > 0

    def _runs_bad(self, aws: Aws) -> bool:
        found = aws.call(
            "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[self.group]
        )
        for group in found.get("AutoScalingGroups", []):
            for instance in group.get("Instances", []):
                version = instance.get("LaunchTemplate", {}).get("Version")
                serving = instance.get("LifecycleState") in _SERVING
                if serving and version == str(self.bad_version):
                    return True
        return False


def _target_side(status: ServiceStatus) -> str | None:
    """Blue/green: the target group of the side with the desired (bad) revision."""
    found = status.blue_green
    if found is None:
        return None
    return next((s.target_group for s in found.sides if s.color == found.target), None)
