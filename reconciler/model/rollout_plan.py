"""The rollout a diff would start, as the pull-request comment shows it (``RolloutPlan``): the
image tag and the digest it resolved to against what runs now, the strategy and its steps, the
checks that gate them, and where a failure goes back to, how, and about how long that takes.

A plan with no ``image`` is "no rollout": only settings change (capacity, the health check, the
scaling policy), made by API calls that replace no instance.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from reconciler.model.bluegreen import Color, Strategy
from reconciler.model.spec import ImageSpec, ResolvedImage


@dataclass(frozen=True, slots=True)
class ImageMove:
    """``desired``: the tag and the digest it resolved to; ``running``: what the instances run
    now, as their launch template version says (a tag alone when it was never pinned), or None
    when that cannot be read."""

    desired: ResolvedImage
    running: ImageSpec | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint of the refresh. ``gated``: AWS holds there until the reconciler sees the
    checks pass and ``hold`` seconds have run; else AWS pauses ``hold`` seconds and goes on."""

    percentage: int
    hold: int
    gated: bool


@dataclass(frozen=True, slots=True)
class RollingPlan:
    """The instance refresh's preferences as desired.yaml declares them (None: not declared, AWS's
    own behaviour), and the group's size it will replace, ``batch`` instances at a time."""

    min_healthy_percentage: int
    max_healthy_percentage: int | None
    instance_warmup: int | None
    checkpoints: tuple[Checkpoint, ...]
    bake_time: int | None
    auto_rollback: bool
    instances: int
    batch: int
    # The rest of what the refresh is asked (issue 17 #11: every field that changes what AWS does).
    skip_matching: bool = False
    scale_in_protected_instances: str = "Refresh"
    standby_instances: str = "Ignore"


@dataclass(frozen=True, slots=True)
class TrafficStep:
    """The target side's share of the traffic, held ``hold`` seconds while the checks pass."""

    percent: int
    hold: int


@dataclass(frozen=True, slots=True)
class BlueGreenPlan:
    """``live`` serves now and stays the rollback target; ``target`` is deployed and stepped onto
    through ``listener``. After 100% ``live`` keeps its capacity ``scale_down_delay`` seconds,
    then scales down to ``warm_standby`` instances."""

    live: Color
    target: Color
    listener: str
    steps: tuple[TrafficStep, ...]
    scale_down_delay: int
    warm_standby: int


class RollbackMethod(enum.StrEnum):
    ROLLBACK_REFRESH = "RollbackInstanceRefresh"
    CANCEL_REFRESH = "CancelInstanceRefresh"  # autoRollback off: new instances stay
    LISTENER_FLIP = "listener flip"


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    """Where a failed rollout goes back to: launch template ``version`` running ``image`` (on
    ``side``, for blue/green), by ``method``, within about ``seconds`` (instance replacement
    only; boot time is not known and comes on top)."""

    method: RollbackMethod
    version: int | None
    image: ImageSpec | None
    seconds: int
    side: Color | None = None


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    strategy: Strategy
    image: ImageMove | None = None  # None: no rollout, settings only
    checks: tuple[str, ...] = ()  # what each checkpoint or step must pass, in words
    rolling: RollingPlan | None = None
    blue_green: BlueGreenPlan | None = None
    rollback: RollbackPlan | None = None

    @property
    def rolls_out(self) -> bool:
        return self.image is not None
