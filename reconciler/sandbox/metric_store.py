"""The sandbox's own store of ``AWS/ApplicationELB`` data points, one bucket per metric-minute.

moto keeps every data point in one list and scans all of it for each period of each query,
which hours of per-minute ALB metrics would make slow; it also has no percentiles. Here each
metric (name plus its exact dimension set: CloudWatch treats each combination as its own
metric, aws-facts 6) maps epoch minute -> ``Bucket``: sample count, sum, minimum, maximum and
the samples themselves where they differ (response times, host counts), so percentiles are
computed from the values. Counters are ``n`` samples of 1 (ELB-metrics: for the count metrics
"Minimum, Maximum, and Average all return 1"), kept as a number rather than a list.

Statistics follow CloudWatch's names: ``Sum``, ``Average``, ``Minimum``, ``Maximum``,
``SampleCount`` and ``pNN`` / ``pNN.NN`` (nearest rank: the smallest sample with at least NN% of
samples at or below it; CloudWatch's own percentile estimator is not documented, derived).
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

MINUTE = 60
Dimensions = tuple[tuple[str, str], ...]
MetricKey = tuple[str, Dimensions]
BASIC_STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,2})?|100)$")


def key(name: str, dimensions: Mapping[str, str]) -> MetricKey:
    return name, tuple(sorted(dimensions.items()))


def key_of(name: str, dimensions: Iterable[Mapping[str, str]]) -> MetricKey:
    """The key of a metric named in an API request (``[{"Name": .., "Value": ..}]``)."""
    return key(name, {d["Name"]: d["Value"] for d in dimensions})


def is_statistic(stat: str) -> bool:
    return stat in BASIC_STATS or _PERCENTILE.match(stat) is not None


@dataclass(slots=True)
class Bucket:
    """One metric's samples in one minute (or, merged, in one period)."""

    count: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    ones: int = 0  # samples equal to 1 not kept in ``values`` (counters)
    values: array[float] = field(default_factory=lambda: array("d"))

    def add_ones(self, n: int) -> None:
        self.count += n
        self.total += n
        self.ones += n
        self.low = min(self.low, 1.0)
        self.high = max(self.high, 1.0)

    def add_values(self, values: Sequence[float]) -> None:
        if not values:
            return
        self.count += len(values)
        self.total += math.fsum(values)
        self.low = min(self.low, min(values))
        self.high = max(self.high, max(values))
        self.values.extend(values)

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        self.ones += other.ones
        self.values.extend(other.values)

    def statistic(self, stat: str) -> float | None:
        if self.count <= 0:
            return None
        basic = {
            "SampleCount": self.count,
            "Sum": self.total,
            "Average": self.total / self.count,
            "Minimum": self.low,
            "Maximum": self.high,
        }
        if stat in basic:
            return basic[stat]
        return self.percentile(float(stat[1:]))

    def percentile(self, share: float) -> float | None:
        samples = sorted([*self.values, *([1.0] * self.ones)])
        if not samples:
            return None
        # round first: 99.9 / 100 * 1000 is 999.0000000000001 in floating point
        rank = max(1, math.ceil(round(share / 100 * len(samples), 9)))
        return samples[min(rank, len(samples)) - 1]


@dataclass(frozen=True, slots=True)
class Datapoint:
    timestamp: datetime  # the period's start, as CloudWatch labels it
    bucket: Bucket


class MetricStore:
    """Per-minute buckets; minutes before ``visible_until`` are published, later ones filling."""

    def __init__(self) -> None:
        self._metrics: dict[MetricKey, dict[int, Bucket]] = {}
        self.visible_until: int = 0  # epoch seconds of the first minute not yet complete

    def bucket(self, metric: MetricKey, moment: datetime) -> Bucket:
        minutes = self._metrics.setdefault(metric, {})
        minute = minute_of(moment)
        found = minutes.get(minute)
        if found is None:
            found = minutes[minute] = Bucket()
        return found

    def metrics(self) -> list[MetricKey]:
        return list(self._metrics)

    def datapoints(
        self, metric: MetricKey, start: datetime, end: datetime, period: int
    ) -> list[Datapoint]:
        """Merged buckets per period from ``start`` (rounded down to the minute) up to ``end``
        (exclusive), oldest first; periods without data are left out, as CloudWatch does."""
        minutes = self._metrics.get(metric)
        if not minutes or period <= 0:
            return []
        first = minute_of(start)
        last = min(_epoch(end), self.visible_until)
        found = []
        for begin in range(first, last, period):
            merged = Bucket()
            for minute in range(begin, min(begin + period, last), MINUTE):
                bucket = minutes.get(minute)
                if bucket is not None:
                    merged.merge(bucket)
            if merged.count > 0:
                found.append(Datapoint(datetime.fromtimestamp(begin, UTC), merged))
        return found


def minute_of(moment: datetime) -> int:
    """Epoch seconds of the minute ``moment`` falls in."""
    seconds = int(_epoch_float(moment))
    return seconds - seconds % MINUTE


def _epoch(moment: datetime) -> int:
    return math.ceil(_epoch_float(moment))


def _epoch_float(moment: datetime) -> float:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.timestamp()
