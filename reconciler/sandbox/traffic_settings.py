"""How much traffic the sandbox's load balancers get, and the seeded randomness behind it.

``Sandbox.traffic`` (this object) is what tests change: ``rate`` requests per second per
load balancer (Poisson arrivals), and ``seed`` for reproducible runs. ``traffic`` reads it.
"""

from __future__ import annotations

import random
from collections import Counter

DEFAULT_RATE = 10.0  # requests per second per load balancer
DEFAULT_SEED = 12


class TrafficSettings:
    """The traffic rate and the random source every request, error and latency is drawn from."""

    def __init__(self, *, rate: float = DEFAULT_RATE, seed: int = DEFAULT_SEED) -> None:
        self._rate = 0.0
        self.rate = rate
        self._seed = seed
        self.random = random.Random(seed)
        # Requests each image tag's instances answered: what no ALB metric says (it has no
        # per-version dimension), kept for the demo's and the benchmarks' blast radius.
        self.served: Counter[str] = Counter()

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        if value < 0:
            raise ValueError("the traffic rate is requests per second, >= 0")
        self._rate = float(value)

    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        """Start the random sequence again from ``value``: the same seed, the same traffic."""
        self._seed = value
        self.random = random.Random(value)

    def reset(self) -> None:
        self.rate = DEFAULT_RATE
        self.seed = DEFAULT_SEED
        self.served.clear()
