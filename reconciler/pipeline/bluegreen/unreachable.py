"""Both weights at 0: no traffic reaches either side, a hand edit of the listener. The decision
puts back the last weights the tags record, and only onto sides healthy at capacity; when the
tags do not say, it writes nothing and says so."""

from __future__ import annotations

from reconciler.model import BlueGreenDecision, BlueGreenState, Color, Phase, SetWeights, Stage
from reconciler.pipeline.bluegreen.sides import need, ready, sides, traffic_steps


def unreachable(state: BlueGreenState) -> BlueGreenDecision:
    target = _target(state)
    restored = last_weights(state)
    lead = "both weights are 0: no traffic reaches blue or green (a hand edit of the listener)"
    if restored is None:
        return _blocked(state, target, f"{lead}; the tags do not say which weights to restore")
    blue, green = restored
    if not all(ready(state.side(c), need(state, state.side(c))) for c in _served(blue, green)):
        return _blocked(
            state,
            target,
            f"{lead}; the weights to restore ({blue}/{green}) would send traffic"
            " to a side not healthy at capacity",
        )
    move = SetWeights(blue, green, "restore the weights the tags record")
    return BlueGreenDecision(
        phase=Phase.BLOCKED,
        stage=Stage.BLOCKED,
        target=target,
        moves=(move,),
        message=f"{lead}; restoring blue {blue}%, green {green}% from the tags",
        next="the next tick decides from the restored weights",
        live=Color.GREEN if green > blue else Color.BLUE,
    )


def last_weights(state: BlueGreenState) -> tuple[int, int] | None:
    """(blue, green) as the tags last recorded them: a side on a valid step that was not
    retired takes that step's weight; else the one side not retired takes all."""
    steps = traffic_steps(state)
    for color in (Color.BLUE, Color.GREEN):
        marks = state.side(color).marks
        if marks.step is not None and marks.retired_at is None and marks.step < len(steps):
            share = steps[marks.step]
            return (share, 100 - share) if color is Color.BLUE else (100 - share, share)
    blue_retired = state.blue.marks.retired_at is not None
    green_retired = state.green.marks.retired_at is not None
    if blue_retired == green_retired:
        return None
    return (0, 100) if blue_retired else (100, 0)


def _served(blue: int, green: int) -> tuple[Color, ...]:
    return tuple(c for c, w in ((Color.BLUE, blue), (Color.GREEN, green)) if w > 0)


def _target(state: BlueGreenState) -> Color:
    return sides(state, 50).t.color  # as for an even split: neither has traffic


def _blocked(state: BlueGreenState, target: Color, message: str) -> BlueGreenDecision:
    return BlueGreenDecision(
        phase=Phase.BLOCKED,
        stage=Stage.BLOCKED,
        target=target,
        moves=(),
        message=message,
        next="weights set by hand, or tags that record them",
    )
