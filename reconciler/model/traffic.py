"""Blue/green's decision, as plain data: the view of each side it reads (``SideView``, in a
``BlueGreenState``) and what it decides (``BlueGreenDecision``: a ``Stage`` and ``Move``s).

Everything the decision needs is in AWS: the weights in the listener, each side's launch
template version and capacity, and the blue/green tags on each side's group (``SideMarks``,
named in ``model.markers``). So a daemon that restarts between steps decides the same again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from reconciler.model.analysis import AnalysisResult
from reconciler.model.bluegreen import Color
from reconciler.model.changes import Phase


@dataclass(frozen=True, slots=True)
class SideMarks:
    """The blue/green tags on one side's group, parsed; ``None`` when absent or unreadable."""

    rollout_fingerprint: str | None = None
    rollout_at: float | None = None
    step: int | None = None
    step_at: float | None = None
    verified: str | None = None
    retired_at: float | None = None
    failed: str | None = None  # the fingerprint of the failed marker (TAG_FAILED_FINGERPRINT)


# ------------------------------------------------------------------------------------------------
# The decision's input: plain data, no AWS shapes
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SideView:
    """One side as the decision sees it.

    ``version`` is the launch template version the group is pinned to (None when it floats or
    has no launch template); ``runs_desired`` says that version holds the desired content.
    ``instances`` counts the group's InService instances on ``version``; ``other_instances``
    its instances on any other version, in any lifecycle state; ``healthy`` the targets of its
    target group that are healthy and are instances of the group on ``version``.
    """

    color: Color
    group: str
    target_group_arn: str
    version: int | None
    runs_desired: bool
    desired: int
    min_size: int
    max_size: int
    instances: int
    other_instances: int
    healthy: int
    weight: int  # its target group's weight in the forward (0 when absent)
    marks: SideMarks = field(default_factory=SideMarks)


@dataclass(frozen=True, slots=True)
class BlueGreenState:
    """Everything ``decide`` reads. ``desired_version`` is the launch template version that
    holds the desired content, None when plan must create it; ``analysis`` judges the side
    taking new traffic (None when nothing is being judged)."""

    fingerprint: str  # the desired content's fingerprint
    desired_version: int | None
    blue: SideView
    green: SideView
    now: float
    steps: tuple[int, ...]
    step_pause: int
    scale_down_delay: int
    warm_standby: int
    min_size: int  # spec.autoScalingGroup's, for the live side
    max_size: int
    analysis: AnalysisResult | None = None
    # rollout.analysis.enabled: off, a step waits out its pause and its targets' health only.
    judged: bool = True

    def side(self, color: Color) -> SideView:
        return self.blue if color is Color.BLUE else self.green


# ------------------------------------------------------------------------------------------------
# The decision's output
# ------------------------------------------------------------------------------------------------


class Stage(enum.StrEnum):
    """Where a blue/green rollout stands, for status and the decision's own message."""

    STEADY = "Steady"  # one side takes all traffic and runs the desired revision
    PREPARING = "Preparing"  # the idle side is pinned to the new revision and scaled
    WARMING = "Warming"  # waiting for the idle side's targets to be healthy
    STEPPING = "Stepping"  # traffic is being shifted in steps, gated by the analysis
    FLIPPING = "Flipping"  # all traffic goes back to the side with the desired revision
    RESTORING = "Restoring"  # that side was scaled down: scaling it up before the flip
    SCALING_DOWN = "ScalingDown"  # the old side waits out scaleDownDelay, then scales down
    FAILED = "Failed"  # the desired revision failed; traffic stays on the other side
    BLOCKED = "Blocked"  # cannot decide safely (see the message)


@dataclass(frozen=True, slots=True)
class SetWeights:
    """Write the forward's weights (percent, adding up to 100), then read them back."""

    blue: int
    green: int
    reason: str


@dataclass(frozen=True, slots=True)
class ScaleSide:
    """Set the side's capacity: UpdateAutoScalingGroup MinSize/MaxSize/DesiredCapacity."""

    color: Color
    desired: int
    min_size: int
    max_size: int
    reason: str


@dataclass(frozen=True, slots=True)
class PinSide:
    """Point the side's group at the launch template version with the desired content
    (``"$New"``: the version plan creates first)."""

    color: Color
    version: int | Literal["$New"]
    reason: str


@dataclass(frozen=True, slots=True)
class MarkSide:
    """Write blue/green tags (``TAG_BG_*``) on the side's group; ``""`` deletes one."""

    color: Color
    tags: Mapping[str, str]
    reason: str


@dataclass(frozen=True, slots=True)
class FailSide:
    """Record on the side's group that the desired revision failed there (not retried)."""

    color: Color
    reason: str


Move = SetWeights | ScaleSide | PinSide | MarkSide | FailSide


@dataclass(frozen=True, slots=True)
class BlueGreenDecision:
    """What to do now. ``live`` is the side that takes (or is getting back) the traffic;
    ``target`` the side with the desired revision; ``step`` the index in ``steps`` the new
    side is at (None outside STEPPING); ``next`` says what happens next, for status."""

    phase: Phase
    stage: Stage
    target: Color
    moves: tuple[Move, ...]
    message: str
    next: str = ""
    step: int | None = None
    live: Color | None = None
