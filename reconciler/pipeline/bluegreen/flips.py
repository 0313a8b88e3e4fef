"""Blue/green's flips: all traffic to one side in one listener write. Back to the other side
when the desired revision failed on the target or a newer commit supersedes the rollout, and
onto the target when it ran the desired revision before (a revert commit).

A flip only goes to a side that is healthy at capacity. When that side was scaled down it is
scaled back up first and the weights stay (Stage.RESTORING): taking traffic from the only side
that serves, or giving it to one that cannot, would be worse than the wait.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model import (
    TAG_BG_RETIRED,
    BlueGreenDecision,
    MarkSide,
    Move,
    Phase,
    SideView,
    Stage,
)
from reconciler.pipeline.bluegreen.marks import epoch_value
from reconciler.pipeline.bluegreen.sides import (
    Sides,
    decided,
    need,
    readiness,
    ready,
    scale,
    weights,
)


def failed(s: Sides) -> BlueGreenDecision:
    """The desired revision failed on the target: traffic back to the other side (F1), then
    the target scaled down to the warm standby (F2). Never retried."""
    why = f"revision {s.state.fingerprint} failed on {s.t.color}"
    if s.t_weight > 0:
        return back_to_other(s, Phase.FAILED, Stage.FAILED, why, then=(retire(s, s.t),))
    warm = min(s.t.desired, s.state.warm_standby)
    down = scale(s.state, s.t, warm, 0, f"{why}: scale down")
    return decided(
        s,
        Phase.FAILED,
        Stage.FAILED,
        down,
        f"{why}: {s.p.color} takes all traffic, {s.t.color} none",
        f"{s.t.color} {'scales down to' if down else 'stays at'} {warm}"
        " until a new commit or `reconciler retry`",
    )


def back_to_other(
    s: Sides,
    phase: Phase,
    stage: Stage,
    why: str,
    first: Sequence[Move] = (),
    then: Sequence[Move] = (),
) -> BlueGreenDecision:
    """All traffic to ``p`` if it is healthy at the target's capacity, else scale it up and
    keep the weights. ``first`` goes before the flip whatever happens; ``then`` with it."""
    p, t = s.p, s.t
    if p.version is None:
        return decided(
            s,
            Phase.BLOCKED,
            Stage.BLOCKED,
            first,
            f"{why}, but {p.color} has no previous revision to return to"
            f" ({t.color} {s.t_weight}%, {p.color} {s.p_weight}%)",
            "a commit that fixes the revision, or a side set up by hand",
        )
    count = need(s.state, t)
    if ready(p, count):
        flip = weights(p.color, 100, f"{why}: all traffic back to {p.color}")
        return decided(
            s,
            phase,
            stage,
            (*first, flip, *then),
            f"{why}: {p.color} takes 100%, {t.color} 0% (was {s.t_weight}%)",
            f"{t.color} scales down to {s.state.warm_standby}"
            if phase is Phase.FAILED
            else f"{t.color} is prepared for the desired revision",
        )
    # P is about to be the live side: its min size is not lowered on the way.
    size = max(p.desired, count)
    floor = min(s.state.min_size, size)
    up = scale(s.state, p, size, floor, f"{why}: {p.color} must serve all traffic")
    return decided(
        s,
        phase,
        Stage.RESTORING,
        (*first, *up),
        f"{why}; {_why_not(p, count)}, so the rollback takes longer: {p.color} must be healthy"
        f" at {count} before the flip ({t.color} keeps {s.t_weight}%, {readiness(p, count)})",
        f"all traffic to {p.color} once {count} of its targets are healthy",
    )


def _why_not(side: SideView, count: int) -> str:
    if side.desired < count:
        return f"{side.color} was scaled down to {side.desired}: scaling it to {count}"
    return f"{side.color} is not healthy at capacity"


def superseded(s: Sides) -> BlueGreenDecision:
    """A newer commit arrived while the target takes part of the traffic (A1): the rollout in
    progress is abandoned by giving all traffic back to the other side first."""
    why = (
        f"a newer revision ({s.state.fingerprint}) supersedes the rollout on {s.t.color}"
        f" at {s.t_weight}%"
    )
    return back_to_other(s, Phase.PROGRESSING, Stage.FLIPPING, why, then=(retire(s, s.t),))


def retire(s: Sides, side: SideView) -> MarkSide:
    """The side lost its traffic now: the start of its scale-down delay, and what tells a
    listener emptied by hand which side had the traffic."""
    at = epoch_value(s.state.now)
    return MarkSide(side.color, {TAG_BG_RETIRED: at}, f"{side.color} loses its traffic")


def onto_target(s: Sides, count: int, follow: Sequence[Move] = ()) -> BlueGreenDecision:
    """The target ran the desired revision to 100% before (a revert): one flip onto it once it
    is healthy at ``count``; meanwhile it is scaled up (RESTORING) and the weights stay."""
    t, p = s.t, s.p
    why = f"{t.color} ran revision {s.state.fingerprint} before (a revert)"
    if ready(t, count):
        flip = weights(t.color, 100, f"{why}: all traffic back to {t.color}")
        return decided(
            s,
            Phase.PROGRESSING,
            Stage.FLIPPING,
            (*follow, flip, retire(s, p)),
            f"{why}: {t.color} takes 100%, {p.color} 0% (was {s.p_weight}%)",
            f"{p.color} scales down {s.state.scale_down_delay} s after the flip",
        )
    return decided(
        s,
        Phase.PROGRESSING,
        Stage.RESTORING,
        follow,
        f"{why}; waiting for it to be healthy at {count} before the flip:"
        f" {readiness(t, count)} ({p.color} keeps {s.p_weight}%)",
        f"all traffic to {t.color} once {count} of its targets are healthy",
    )
