"""Blue/green's decision: from the two sides as AWS holds them (``BlueGreenState``), the next
moves (``BlueGreenDecision``). Pure: no I/O, no clock (``state.now`` is the time).

The rules, in the order ``decide`` applies them (T the target side, P the other; weights in
percent of the listener's total):

======================  ===================================================================
weights total 0         BLOCKED; the last weights the tags record are written back, if any
T failed the revision   all traffic to P if it is ready, else P scaled up first; then T
                        scaled down to the warm standby (``flips``)
T lacks the revision    with traffic: all of it back to P first (a newer commit); idle: pin
                        T, tag the rollout, drain old instances, scale to P's capacity (``idle``)
T at 0%                 follow P's capacity, warm up, then the first step, or a flip when T
                        ran the revision to 100% before (a revert) (``idle``, ``flips``)
T between 0 and 100%    a revert flips at once; otherwise the step, its pause and the
                        analysis gate, drift put back, a failure flipped back (``steps``)
T at 100%               verified; P waits out ``scale_down_delay``, then scales down
                        (``capacity``)
======================  ===================================================================

``marks`` reads and writes the tags; ``sides`` picks T and P and says when a side is ready;
``describe`` words the plan for the pull-request diff.
"""

from __future__ import annotations

from reconciler.model import BlueGreenDecision, BlueGreenState, Phase, SetWeights
from reconciler.pipeline.bluegreen import capacity, flips, idle, steps
from reconciler.pipeline.bluegreen.describe import describe_plan
from reconciler.pipeline.bluegreen.marks import (
    epoch_value,
    marks_of,
    rollout_value,
    step_value,
    tag_values,
)
from reconciler.pipeline.bluegreen.sides import (
    Sides,
    need,
    percent,
    ready,
    sides,
    traffic_steps,
)
from reconciler.pipeline.bluegreen.unreachable import unreachable

__all__ = [
    "decide",
    "describe_plan",
    "epoch_value",
    "marks_of",
    "need",
    "percent",
    "ready",
    "rollout_value",
    "step_value",
    "tag_values",
    "traffic_steps",
]


def decide(state: BlueGreenState) -> BlueGreenDecision:
    blue = percent(state)
    if blue is None:
        return unreachable(state)
    s = sides(state, blue[0])
    decision = _rule(s)
    return _normalised(s, blue, decision)


def _rule(s: Sides) -> BlueGreenDecision:
    t, fingerprint = s.t, s.state.fingerprint
    if t.marks.failed == fingerprint:
        return flips.failed(s)
    if not t.runs_desired:
        return flips.superseded(s) if s.t_weight > 0 else idle.prepare(s)
    if s.t_weight == 0:
        return idle.idle(s)
    if s.t_weight < 100:
        if t.marks.verified == fingerprint:
            return flips.onto_target(s, need(s.state, t))
        return steps.stepping(s)
    return capacity.steady(s)


def _normalised(s: Sides, blue: tuple[int, int], decision: BlueGreenDecision) -> BlueGreenDecision:
    """A listener whose weights do not split as the percentages the decision read (a hand
    edit, rounded) gets those percentages, unless the decision writes weights itself."""
    state = s.state
    total = state.blue.weight + state.green.weight
    if state.blue.weight * 100 == blue[0] * total:
        return decision  # the same split as the percentages: nothing to put back
    if any(isinstance(m, SetWeights) for m in decision.moves):
        return decision
    if decision.phase is Phase.BLOCKED:
        return decision
    fix = SetWeights(blue[0], blue[1], "drift: the weights as percent, adding up to 100")
    return BlueGreenDecision(
        phase=Phase.OUT_OF_SYNC if decision.phase is Phase.IN_SYNC else decision.phase,
        stage=decision.stage,
        target=decision.target,
        moves=(fix, *decision.moves),
        message=f"{decision.message}; weights {state.blue.weight}/{state.green.weight}"
        f" written back as {blue[0]}/{blue[1]}",
        next=decision.next,
        step=decision.step,
        live=decision.live,
    )
