"""How CloudWatch decides a metric alarm's state from its data points: pure functions.

From the CloudWatch User Guide, "Alarm evaluation" and "Configuring how CloudWatch alarms treat
missing data" (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html,
…/alarms-and-missing-data.html):

- Evaluation Periods (N) is the number of most recent periods evaluated; Datapoints to Alarm
  (M, default N) is how many of them must breach for ``ALARM``; they need not be consecutive;
- TreatMissingData: ``breaching`` and ``notBreaching`` count a missing period as breaching /
  within the threshold; ``ignore`` keeps the current state; ``missing`` (the default) goes to
  ``INSUFFICIENT_DATA`` only when every period in the range is missing.

Derived where the guide gives only a table: with ``missing`` or ``ignore`` and some periods
missing, the alarm goes to ``OK`` only when ``ALARM`` has become impossible (more than N - M
periods within the threshold), and otherwise keeps its state. The evaluation range is exactly
N periods (AWS retrieves a few more, "evaluation range" in the guide: cruder).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, limit: value >= limit,
    "GreaterThanThreshold": lambda value, limit: value > limit,
    "LessThanThreshold": lambda value, limit: value < limit,
    "LessThanOrEqualToThreshold": lambda value, limit: value <= limit,
}
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@dataclass(frozen=True, slots=True)
class Rule:
    comparison: str
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing: str = "missing"


@dataclass(frozen=True, slots=True)
class Verdict:
    state: str
    breaching: int  # periods counted as breaching (missing ones included when so treated)
    within: int  # periods counted as within the threshold
    missing: int  # periods without data


def decide(rule: Rule, values: Sequence[float | None], current: str) -> Verdict:
    """The alarm's next state from the last ``evaluation_periods`` values (None: missing)."""
    compare = COMPARISONS[rule.comparison]
    real = [v for v in values if v is not None]
    missing = len(values) - len(real)
    breaching = sum(1 for v in real if compare(v, rule.threshold))
    within = len(real) - breaching
    if rule.treat_missing == "breaching":
        breaching += missing
    elif rule.treat_missing == "notBreaching":
        within += missing
    needed = min(rule.datapoints_to_alarm, rule.evaluation_periods)
    if breaching >= needed:
        state = ALARM
    elif not real and rule.treat_missing in ("missing", "ignore"):
        state = INSUFFICIENT if rule.treat_missing == "missing" else current
    elif within > len(values) - needed:
        state = OK
    else:
        state = current
    return Verdict(state, breaching, within, missing)


def relation(comparison: str, breached: bool) -> str:
    """The words of a StateReason for the comparison, e.g. "greater than" / "not greater than"."""
    words = {
        "GreaterThanOrEqualToThreshold": "greater than or equal to",
        "GreaterThanThreshold": "greater than",
        "LessThanThreshold": "less than",
        "LessThanOrEqualToThreshold": "less than or equal to",
    }[comparison]
    return words if breached else f"not {words}"
