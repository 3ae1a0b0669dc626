"""Rolling statistics of experience metrics, in the two forms the scorers need.

- ``DecayedMoments`` (per customer): a weighted mean and variance whose weights halve every
  ``consistency_half_life_hours`` of event time.  The customer's events arrive in one
  ordered stream, so the floating-point updates are deterministic.
- ``FixedSums`` (per agent / queue window): count, sum and sum of squares of values rounded
  to a fixed point, held as integers.  Integer addition is exact and commutative, so the
  result does not depend on the order in which different customers' summaries arrive.

Both store plain lists so the state serialises to compact JSON.
"""

from __future__ import annotations

import math
from typing import NamedTuple

#: Fixed-point resolution per metric: value * factor is rounded to an integer.
FIXED_POINT: dict[str, int] = {
    "wait_ratio": 1000,
    "handle": 10,
    "hold": 10,
    "transfers": 1,
    "csat": 1,
    "effort": 1,
    "sentiment": 1000,
    "wait_breach": 1,
    "failed": 1,
}


class MetricStats(NamedTuple):
    """A tuple: built for every metric each time a customer is re-scored, and a frozen
    dataclass's ``__init__`` costs several times a tuple's."""

    n: int
    mean: float
    sd: float


# DecayedMoments: {metric: [count, weight, mean, m2]}
DecayedMoments = dict[str, list[float]]


def decay_moments(moments: DecayedMoments, factor: float) -> None:
    for entry in moments.values():
        entry[1] *= factor
        entry[3] *= factor


def add_decayed(moments: DecayedMoments, name: str, value: float) -> None:
    """West's weighted update with weight 1 for the new sample."""
    entry = moments.get(name)
    if entry is None:
        moments[name] = [1.0, 1.0, float(value), 0.0]
        return
    entry[0] += 1.0
    entry[1] += 1.0
    delta = value - entry[2]
    entry[2] += delta / entry[1]
    entry[3] += delta * (value - entry[2])


def decayed_stats(moments: DecayedMoments) -> dict[str, MetricStats]:
    return {
        name: MetricStats(int(count), mean, math.sqrt(max(m2 / weight, 0.0)))
        for name, (count, weight, mean, m2) in moments.items()
    }


# FixedSums: {metric: [count, sum, sum of squares]} of fixed-point integers
FixedSums = dict[str, list[int]]


def add_fixed(sums: FixedSums, name: str, value: float) -> None:
    scaled = round(value * FIXED_POINT[name])
    entry = sums.get(name)
    if entry is None:
        sums[name] = [1, scaled, scaled * scaled]
        return
    entry[0] += 1
    entry[1] += scaled
    entry[2] += scaled * scaled


def fixed_stats(sums: FixedSums) -> dict[str, MetricStats]:
    stats = {}
    for name, (count, total, squares) in sums.items():
        factor = FIXED_POINT[name]
        variance = (count * squares - total * total) / (count * count * factor * factor)
        stats[name] = MetricStats(count, total / (count * factor), math.sqrt(max(variance, 0.0)))
    return stats


def merge_fixed(into: FixedSums, sums: FixedSums) -> None:
    """Add ``sums`` to ``into``: exact, as every addition of fixed-point integers is."""
    for name, (count, total, squares) in sums.items():
        entry = into.get(name)
        if entry is None:
            into[name] = [count, total, squares]
        else:
            entry[0] += count
            entry[1] += total
            entry[2] += squares
