"""The ``alarms`` signal: the CloudWatch alarms named in ``rollout.alarms``, read every tick so
a rollback does not wait for Auto Scaling's own evaluation of its AlarmSpecification
(aws-facts 1.9).

Rule 6 (the product's documented semantics), present only when alarms are named: any named
alarm in ``ALARM`` → FAIL ("alarm feedback-5xx is in ALARM"); the alarms could not be read →
INCONCLUSIVE; a named alarm CloudWatch does not hold → INCONCLUSIVE ("alarm X does not
exist"), since AWS would refuse or ignore it and it judges nothing; ``INSUFFICIENT_DATA`` (or
any state but OK) → INCONCLUSIVE; every one ``OK`` → PASS.
"""

from __future__ import annotations

from reconciler.model.analysis import AnalysisInputs, Signal, SignalResult, Verdict


def _names(names: list[str]) -> str:
    return f"alarm {names[0]} is" if len(names) == 1 else f"alarms {', '.join(names)} are"


def judge_alarms(inputs: AnalysisInputs, alarm_names: tuple[str, ...]) -> SignalResult | None:
    """The ``alarms`` signal, or ``None`` when no alarm is named."""
    if not alarm_names:
        return None
    states = inputs.alarms
    firing = [n for n in alarm_names if states.get(n) == "ALARM"]
    if firing:
        return _result(Verdict.FAIL, f"{_names(firing)} in ALARM")
    if inputs.alarms_error:
        return _result(
            Verdict.INCONCLUSIVE, f"alarms inconclusive: unreadable ({inputs.alarms_error})"
        )
    problems = [
        f"alarm {n} does not exist" if n not in states else f"alarm {n} is {states[n]}"
        for n in alarm_names
        if states.get(n) != "OK"
    ]
    if problems:
        return _result(Verdict.INCONCLUSIVE, "; ".join(problems))
    return _result(Verdict.PASS, f"{_names(list(alarm_names))} OK")


def _result(verdict: Verdict, message: str) -> SignalResult:
    return SignalResult(signal=Signal.ALARMS, verdict=verdict, message=message)
