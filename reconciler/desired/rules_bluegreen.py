"""The rules of ``strategy: blueGreen`` that a schema cannot express: the strategy and its
section together, steps that end at 100, two distinct sides, and what a blue/green rollout
does not use.

What needs AWS (the listener exists, forwards to exactly the two target groups, each group is
attached to its target group) is checked against AWS before anything is written: the service
is Stalled with the reason, like a missing group (``pipeline.bluegreen``'s preconditions).
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.desired.document import Doc
from reconciler.desired.rules import integer
from reconciler.desired.yamlload import FieldPath, field_name
from reconciler.model import Problem

_SPEC = ("spec",)
_BG = ("spec", "blueGreen")
_STEPS = (*_BG, "trafficSteps")
_ANALYSIS = ("spec", "rollout", "analysis")
_STEPS_ALLOWED = "1-10 strictly increasing percentages ending with 100, e.g. [10, 50, 100]"
# Instance refresh preferences that a blue/green rollout never sends (it starts no refresh).
_REFRESH_ONLY = ("checkpointPercentages", "checkpointDelay", "bakeTime", "maxHealthyPercentage")


def check(doc: Doc) -> list[Problem]:
    """Every blue/green rule's problems with one document."""
    return [problem for rule in _RULES for problem in rule(doc)]


def _blue_green(doc: Doc) -> bool:
    return doc.text((*_SPEC, "strategy")) == "blueGreen"


def _section(doc: Doc) -> list[Problem]:
    present = isinstance(doc.get(_BG), dict)
    if _blue_green(doc) and not present:
        message = "strategy blueGreen needs spec.blueGreen: the listener and the green side"
        allowed = "spec.blueGreen with listener and green"
        return [doc.at((*_SPEC, "strategy"), message, allowed)]
    if present and not _blue_green(doc):
        message = "spec.blueGreen is set, but the strategy is rolling, so it would be ignored"
        return [doc.at(_BG, message, "spec.blueGreen only with strategy: blueGreen")]
    return []


def _steps(doc: Doc) -> list[Problem]:
    values = doc.get(_STEPS)
    if not isinstance(values, list) or not values:
        return []
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return []
    for index in range(1, len(values)):
        if values[index] <= values[index - 1]:
            message = f"{values[index]} follows {values[index - 1]}: steps must increase"
            return [doc.at((*_STEPS, index), message, _STEPS_ALLOWED)]
    if values[-1] != 100:  # above 100 is the schema's to report
        message = f"the last step is {values[-1]}%, so the new side would never take all traffic"
        return [doc.at((*_STEPS, len(values) - 1), message, _STEPS_ALLOWED)]
    return []


def _distinct_sides(doc: Doc) -> list[Problem]:
    green = (*_BG, "green")
    pairs: tuple[tuple[str, FieldPath, FieldPath], ...] = (
        ("Auto Scaling group", ("spec", "autoScalingGroup", "name"), (*green, "autoScalingGroup")),
        ("target group", ("spec", "targetGroup", "name"), (*green, "targetGroup")),
    )
    problems = []
    for what, blue_path, green_path in pairs:
        name = doc.text(green_path)
        if name is not None and name == doc.text(blue_path):
            message = f"both sides name the {what} {name!r}"
            allowed = f"a green {what} other than the blue side's ({field_name(blue_path)})"
            problems.append(doc.at(green_path, message, allowed))
    return problems


def _warm_standby(doc: Doc) -> list[Problem]:
    standby = doc.get((*_BG, "warmStandby"))
    high = doc.get(("spec", "autoScalingGroup", "maxSize"))
    if not isinstance(standby, int) or not isinstance(high, int) or standby <= high:
        return []
    message = f"warmStandby {standby} is above autoScalingGroup.maxSize {high}"
    return [doc.at((*_BG, "warmStandby"), message, f"at most maxSize ({high})")]


def _refresh_only_warning(doc: Doc) -> list[Problem]:
    if not _blue_green(doc):
        return []
    return [
        doc.at(
            ("spec", "rollout", name),
            f"rollout.{name} configures an instance refresh; strategy blueGreen starts none",
            "leave it out with strategy blueGreen",
            warning=True,
        )
        for name in _REFRESH_ONLY
        if doc.get(("spec", "rollout", name)) is not None
    ]


def _step_pause_warning(doc: Doc) -> list[Problem]:
    if not _blue_green(doc) or doc.get((*_ANALYSIS, "enabled")) is False:
        return []
    pause = integer(doc, (*_BG, "stepPause"), default=True)
    interval = integer(doc, (*_ANALYSIS, "interval"), default=True)
    limit = integer(doc, (*_ANALYSIS, "failureLimit"), default=True)
    if pause is None or interval is None or limit is None:
        return []
    needed = interval * (limit + 1)
    if pause >= needed:
        return []
    message = (
        f"a step may be passed {pause} s after it began, before the analysis could fail it"
        f" ({limit + 1} samples of {interval} s = {needed} s)"
    )
    return [doc.at((*_BG, "stepPause"), message, f"stepPause of at least {needed}", warning=True)]


_RULES: tuple[Callable[[Doc], list[Problem]], ...] = (
    _section,
    _steps,
    _distinct_sides,
    _warm_standby,
    _refresh_only_warning,
    _step_pause_warning,
)
