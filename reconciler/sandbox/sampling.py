"""Random draws for the sandbox's traffic: request counts, error counts and splits.

Python 3.11's ``random`` has no Poisson or binomial draw. Small means are drawn exactly; large
ones use the normal approximation (mean and variance of the exact distribution, rounded and
clamped), which is far finer than the noise any analysis of per-minute counts can see.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

_EXACT_BELOW = 30.0


def poisson(rng: random.Random, mean: float) -> int:
    """Arrivals in an interval with ``mean`` expected arrivals."""
    if mean <= 0:
        return 0
    if mean >= _EXACT_BELOW:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:  # Knuth: multiply uniforms until below e^-mean
        count += 1
        product *= rng.random()
    return count


def binomial(rng: random.Random, trials: int, chance: float) -> int:
    """Successes in ``trials`` independent tries of probability ``chance``."""
    if trials <= 0 or chance <= 0:
        return 0
    if chance >= 1:
        return trials
    variance = trials * chance * (1 - chance)
    if variance >= _EXACT_BELOW:
        drawn = round(rng.gauss(trials * chance, math.sqrt(variance)))
        return min(trials, max(0, drawn))
    return sum(1 for _ in range(trials) if rng.random() < chance)


def split(rng: random.Random, total: int, weights: Sequence[float]) -> list[int]:
    """``total`` spread over ``weights`` at random (a multinomial draw, by conditional
    binomials); a weight of 0 gets nothing."""
    counts: list[int] = []
    left, weight_left = total, float(sum(weights))
    for weight in weights:
        if weight_left <= 0 or left <= 0:
            counts.append(0)
            continue
        drawn = binomial(rng, left, min(1.0, weight / weight_left))
        counts.append(drawn)
        left -= drawn
        weight_left -= weight
    return counts


def even(rng: random.Random, total: int, ways: int) -> list[int]:
    """``total`` spread as evenly as possible over ``ways``, the remainder to random ones
    (round robin, the target group's default algorithm, aws-facts 3.3)."""
    if ways <= 0:
        return []
    base, extra = divmod(total, ways)
    counts = [base] * ways
    for index in rng.sample(range(ways), extra):
        counts[index] += 1
    return counts
