"""The figures of a bad release, measured as it happens: detection, blast radius, recovery.

``Incident`` watches one service while the daemon ticks after a commit: when the reconciler
first declared the rollout failed (detection), when the group last ran an instance of the bad
launch template version (recovery: only the good version runs), and how many requests the bad
image answered meanwhile (read from the sandbox's traffic, which knows which image served what).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.aws import Aws
from reconciler.pipeline.status import ServiceStatus

# Lifecycle states in which an instance still takes traffic or is about to.
_SERVING = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})


@dataclass
class Incident:
    """One bad release, from its commit at ``committed``."""

    group: str
    committed: datetime
    served_by: Callable[[], int]  # requests the bad image has answered so far
    bad_version: int | None = None
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
        waiting = self.detected is not None and self.recovered is None
        if waiting and self.bad_version is not None and not self._runs_bad(aws):
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
            f"  only good version: {minutes(self.recovered)} after the commit",
            f"  blast radius:      {self.served()} requests answered by the bad image",
        ]

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
