"""The target while it takes no traffic: pinned to the desired revision and tagged (A2), scaled
to the live side's current capacity, warmed until its targets are healthy, then either started
on the steps or, for a revision it ran before, flipped onto at once (B3).

Instances of another version on the idle side are drained to 0 before it is scaled to capacity,
so an old-version standby never takes canary traffic.
"""

from __future__ import annotations

from typing import Literal

from reconciler.model import (
    BG_ADOPTED,
    TAG_BG_ROLLOUT,
    TAG_BG_STEP,
    TAG_BG_VERIFIED,
    BlueGreenDecision,
    FailSide,
    MarkSide,
    Move,
    Phase,
    PinSide,
    Stage,
    Verdict,
)
from reconciler.pipeline.bluegreen import flips, steps
from reconciler.pipeline.bluegreen.marks import rollout_value
from reconciler.pipeline.bluegreen.sides import (
    Sides,
    decided,
    need,
    readiness,
    ready,
    scale,
)


def prepare(s: Sides) -> BlueGreenDecision:
    """A2: the idle target does not run the desired revision yet."""
    state, t = s.state, s.t
    version: int | Literal["$New"] = (
        state.desired_version if state.desired_version is not None else "$New"
    )
    tags = {
        TAG_BG_ROLLOUT: rollout_value(state.fingerprint, state.now),
        TAG_BG_STEP: "",
        TAG_BG_VERIFIED: "",
    }
    old = t.instances + t.other_instances
    count = need(state, s.p)
    target = 0 if old else count
    why = f"drain {old} instance(s) of other versions first" if old else f"{s.p.color}'s capacity"
    moves: tuple[Move, ...] = (
        MarkSide(t.color, tags, f"rollout of {state.fingerprint}"),
        PinSide(t.color, version, f"revision {state.fingerprint}"),
        *scale(state, t, target, 0, why),
        *_adopt(s),
    )
    return decided(
        s,
        Phase.OUT_OF_SYNC,
        Stage.PREPARING,
        moves,
        f"{t.color} (idle, 0%) moves to revision {state.fingerprint}, {s.p.color} keeps 100%",
        f"scale {t.color} to {count}"
        + (" once its old instances are gone" if old else "")
        + ", then wait for its targets to be healthy",
    )


def _adopt(s: Sides) -> tuple[Move, ...]:
    """The live side of a pair no rollout of ours ran on yet (a group that served before the
    reconciler managed it) is what a rollback of this first rollout returns to: recorded as
    verified, it stays warm for ``scale_down_delay`` like any other verified side."""
    p = s.p
    if p.marks.verified is not None or p.marks.failed is not None:
        return ()
    if s.t_weight != 0 or p.healthy < 1:
        return ()  # it must be carrying the traffic, and serving it
    why = f"{p.color} carried all the traffic before this rollout: a rollback returns to it"
    return (MarkSide(p.color, {TAG_BG_VERIFIED: BG_ADOPTED}, why),)


def idle(s: Sides) -> BlueGreenDecision:
    """B3: the target runs the desired revision and takes no traffic."""
    state, t = s.state, s.t
    analysis = state.analysis
    revert = t.marks.verified == state.fingerprint
    if not revert and t.marks.rollout_fingerprint != state.fingerprint:
        return _restart(s)
    if analysis is not None and analysis.verdict is Verdict.FAIL:
        return _failed(s, analysis.message)
    count = need(state, s.p)
    waiting = Stage.RESTORING if revert else Stage.PREPARING
    if t.other_instances:
        return _drain(s, waiting)
    if t.desired != count:
        follow = scale(state, t, count, 0, f"{t.color} follows {s.p.color}'s capacity")
        lead = (
            f"{t.color} ran revision {state.fingerprint} before (a revert) but was scaled down:"
            " scaling it up before the flip, "
            if revert
            else ""
        )
        return decided(
            s,
            Phase.PROGRESSING,
            waiting,
            follow,
            f"{lead}{t.color} (0%) scales from {t.desired} to {count}, {s.p.color}'s capacity;"
            f" {s.p.color} keeps 100%",
            f"wait for {count} healthy targets in {t.color}",
        )
    if revert:
        return flips.onto_target(s, count)
    if ready(t, count):
        return steps.start(s)
    return decided(
        s,
        Phase.PROGRESSING,
        Stage.WARMING,
        (),
        f"{t.color} (0%) warms up: {readiness(t, count)}; {s.p.color} keeps 100%",
        f"the first step ({steps.steps_of(s)[0]}%) once {count} targets are healthy",
    )


def _restart(s: Sides) -> BlueGreenDecision:
    """The target already runs the revision but no rollout of it is recorded (`reconciler
    retry` cleared it, or the tag was lost): record one now, so the analysis judges this
    rollout from now on, not what an earlier attempt left in CloudWatch."""
    state, t = s.state, s.t
    mark = MarkSide(
        t.color,
        {TAG_BG_ROLLOUT: rollout_value(state.fingerprint, state.now), TAG_BG_STEP: ""},
        f"a rollout of revision {state.fingerprint} on {t.color} starts now",
    )
    return decided(
        s,
        Phase.PROGRESSING,
        Stage.PREPARING,
        (mark,),
        f"{t.color} (0%) runs revision {state.fingerprint}: its rollout starts again;"
        f" {s.p.color} keeps 100%",
        f"wait for {need(state, s.p)} healthy targets in {t.color}, then the first step",
    )


def _drain(s: Sides, stage: Stage) -> BlueGreenDecision:
    """Old-version instances on the idle target: scale it to 0 until they are gone."""
    t = s.t
    down = scale(s.state, t, 0, 0, f"drain {t.other_instances} instance(s) of other versions")
    return decided(
        s,
        Phase.PROGRESSING,
        stage,
        down,
        f"{t.color} (0%) still has {t.other_instances} instance(s) of other versions:"
        f" draining them before it scales up; {s.p.color} keeps 100%",
        f"scale {t.color} to {need(s.state, s.p)} once they are gone",
    )


def _failed(s: Sides, reason: str) -> BlueGreenDecision:
    """A side that cannot launch never receives traffic: record it and scale it down."""
    t = s.t
    warm = min(t.desired, s.state.warm_standby)
    moves: tuple[Move, ...] = (
        FailSide(t.color, reason),
        *scale(s.state, t, warm, 0, f"revision {s.state.fingerprint} failed on {t.color}"),
    )
    return decided(
        s,
        Phase.FAILED,
        Stage.FAILED,
        moves,
        f"the analysis failed {t.color} before it took traffic ({reason}); {s.p.color} keeps 100%",
        f"{t.color} scales down to {warm}; not retried",
    )
