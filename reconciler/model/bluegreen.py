"""Blue/green as desired.yaml declares it: the strategy, the listener, the second side, the steps.

Two Auto Scaling groups, each with its target group, sit behind one ALB listener (or one of its
rules) whose forward action splits traffic between the two target groups by weight. *Blue* is
the pair named by ``spec.autoScalingGroup`` / ``spec.targetGroup``; *green* is the pair named by
``spec.blueGreen.green``. A deploy moves the idle side onto the new revision, scales it to the
live side's capacity, waits until its targets are healthy, then shifts traffic in
``traffic_steps``; a rollback is one weight write back to the side that still runs the previous
revision. What AWS holds for the sides is in ``observed`` (``ObservedBlueGreen``); the decision
over it, pure, in ``model.traffic`` and ``pipeline.bluegreen``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

WEIGHT_MAX = 999  # ForwardConfig TargetGroupTuple.Weight: 0-999 (ELB API reference)


class Strategy(enum.StrEnum):
    ROLLING = "rolling"  # one group, instance refresh (the default)
    BLUE_GREEN = "blueGreen"


class Color(enum.StrEnum):
    BLUE = "blue"
    GREEN = "green"

    @property
    def other(self) -> Color:
        return Color.GREEN if self is Color.BLUE else Color.BLUE


# ------------------------------------------------------------------------------------------------
# Desired: spec.blueGreen
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListenerRef:
    """The listener of load balancer ``load_balancer`` (its name) on ``port``; with
    ``rule_priority``, that listener's rule of that priority instead of its default action."""

    load_balancer: str
    port: int
    rule_priority: int | None = None

    def describe(self) -> str:
        where = f"{self.load_balancer}:{self.port}"
        return f"{where} rule {self.rule_priority}" if self.rule_priority is not None else where


@dataclass(frozen=True, slots=True)
class SideRef:
    auto_scaling_group: str
    target_group: str


@dataclass(frozen=True, slots=True)
class BlueGreenSpec:
    """``spec.blueGreen``. Steps are the new side's traffic percentages, ending at 100."""

    listener: ListenerRef
    green: SideRef
    traffic_steps: tuple[int, ...] = (10, 50, 100)
    step_pause: int = 300  # seconds at each step before the next, while the analysis passes
    scale_down_delay: int = 3600  # seconds the old side stays at full capacity after 100%
    warm_standby: int = 0  # instances the old side keeps after the delay
    # Where desired.yaml declares what AWS must confirm (field path → line), so a listener or
    # side that AWS does not have is reported at its file, line and field, like a schema error.
    lines: tuple[tuple[str, int], ...] = ()

    def line_of(self, field: str, default: int) -> int:
        return next((line for name, line in self.lines if name == field), default)
