"""Numbers as the analysis messages show them: two significant digits, no exponent.

``percent(0.31)`` is "31%", ``percent(0.002)`` "0.2%", ``percent(0.0)`` "0%";
``seconds(3.1)`` is "3.1 s", ``seconds(0.213)`` "0.21 s". Values of ten or more keep their
whole digits ("100%", "300 s"): two significant digits is what a person compares at a glance,
and a limit and a value that round alike ("5%" against "5%") still carry the exact figures in
the samples.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime


def significant(value: float, digits: int = 2) -> str:
    """``value`` rounded to ``digits`` significant digits (whole digits kept), plain notation."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def percent(rate: float) -> str:
    """A rate in 0-1 as a percentage: 0.31 → "31%", 0.002 → "0.2%", 0.0 → "0%"."""
    return f"{significant(rate * 100)}%"


def seconds(value: float) -> str:
    """A duration in seconds: 3.1 → "3.1 s", 0.213 → "0.21 s", 300 → "300 s"."""
    return f"{significant(value)} s"


def count(value: float) -> str:
    """A count that CloudWatch sums as a float: 12.0 → "12", 12.5 → "12.5"."""
    return f"{value:g}" if value != int(value) else str(int(value))


def plural(number: int, noun: str) -> str:
    """ "1 sample", "2 samples"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def clock(epoch: float) -> str:
    """An instant as status shows it: ``14:03:30Z`` (UTC; a rollout spans minutes, not days)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%SZ")
