"""The write budget: a token bucket per (account, region, API family) that every write waits on.

AWS throttles each account per Region with token buckets that the console and every other tool
share (EC2: "Request throttling for the Amazon EC2 API", docs.aws.amazon.com/ec2/latest/devguide/
ec2-api-throttling.html; ELB: docs.aws.amazon.com/elasticloadbalancing/latest/userguide/
elb-api-throttling.html; Auto Scaling: one shared limit per account and Region, repost.aws
knowledge-center/autoscaling-api-calls-throttled). The reconciler spends well under those
refill rates, so a commit that touches every service neither trips the buckets nor starves the
console. A write that has to wait, waits (up to ``max_wait``); only a wait longer than that
gives the write up for this pass, as a temporary error the next tick retries.

Defaults (writes per second, burst), each below what AWS publishes or, where AWS publishes no
figure, chosen low:

- ``ec2`` 2/s, burst 10: EC2's mutating actions refill at 5/s into a bucket of 50;
- ``elbv2`` (ELB API version 2) 2/s, burst 10: ELB publishes its non-mutating bucket (40, refilling
  at 10/s); its mutating figure is not published, so the default stays at a fifth of that;
- ``autoscaling`` 2/s, burst 10: Auto Scaling publishes no figure (one shared limit per account
  and Region);
- any other family (dynamodb for the lease, sts): not budgeted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: float

    def __str__(self) -> str:
        return f"{self.per_second:g}/{self.burst:g}"


DEFAULT_RATES: Mapping[str, Rate] = {
    "ec2": Rate(2.0, 10.0),
    "elbv2": Rate(2.0, 10.0),
    "autoscaling": Rate(2.0, 10.0),
}
DEFAULT_MAX_WAIT = 60.0


def parse_rates(text: str) -> dict[str, Rate]:
    """``"ec2=2/10 autoscaling=1"``: FAMILY=RATE[/BURST], space- or comma-separated; a burst
    left out is the rate itself. ValueError with the piece at fault and what is allowed."""
    rates: dict[str, Rate] = {}
    for piece in text.replace(",", " ").split():
        family, sep, value = piece.partition("=")
        per, _, burst = value.partition("/")
        try:
            rate = Rate(float(per), float(burst) if burst else float(per))
        except ValueError:
            rate = None
        if not sep or family not in DEFAULT_RATES or rate is None or not _sane(rate):
            raise ValueError(
                f"{piece!r}: allowed FAMILY=RATE[/BURST] with FAMILY one of "
                f"{', '.join(sorted(DEFAULT_RATES))}, RATE > 0 writes per second and "
                "BURST >= 1 and >= RATE"
            )
        rates[family] = rate
    return rates


def _sane(rate: Rate) -> bool:
    return 0 < rate.per_second <= 1000 and 1 <= rate.burst <= 10000


@dataclass(slots=True)
class Bucket:
    """One token bucket. ``reserve`` is pure arithmetic over the time it is given."""

    rate: Rate
    tokens: float
    updated: float

    def reserve(self, now: float, *, max_wait: float) -> float | None:
        """Take a token: the seconds to wait before using it, or None (nothing taken) when
        that would be longer than ``max_wait``. Tokens may go below zero: each waiter has its
        own place in the line."""
        self.tokens = min(
            self.rate.burst, self.tokens + (now - self.updated) * self.rate.per_second
        )
        self.updated = now
        wait = max(0.0, (1.0 - self.tokens) / self.rate.per_second)
        if wait > max_wait:
            return None
        self.tokens -= 1.0
        return wait


Key = tuple[str, str, str]  # (account, region, family)


@dataclass
class WriteBudget:
    """The buckets of one process, made on first use, shared by every ``Aws`` of that process."""

    rates: Mapping[str, Rate] = field(default_factory=lambda: dict(DEFAULT_RATES))
    max_wait: float = DEFAULT_MAX_WAIT
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _buckets: dict[Key, Bucket] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def take(self, key: Key) -> float | None:
        """Wait for a write token of ``key``: the seconds waited, or None when the wait would
        exceed ``max_wait`` (nothing waited, nothing taken). Families without a rate pass."""
        rate = self.rates.get(key[2])
        if rate is None:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket(rate, rate.burst, self.clock())
            wait = bucket.reserve(self.clock(), max_wait=self.max_wait)
        if wait:
            self.sleep(wait)  # outside the lock: other keys' writes go on meanwhile
        return wait
