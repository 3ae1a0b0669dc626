from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.scoring import dazzle
from cxpulse.scoring.config import ScoringConfig

CONFIG = ScoringConfig()
HOUR_US = 3_600_000_000
times = st.integers(min_value=0, max_value=24 * 365 * HOUR_US)


@given(
    balance=st.floats(min_value=-50, max_value=50),
    start=times,
    first=st.integers(min_value=0, max_value=5000 * HOUR_US),
    second=st.integers(min_value=0, max_value=5000 * HOUR_US),
)
def test_balance_decays_monotonically_toward_zero(
    balance: float, start: int, first: int, second: int
) -> None:
    early, late = sorted((first, second))
    at_early = dazzle.balance_at(balance, start, start + early, CONFIG)
    at_late = dazzle.balance_at(balance, start, start + late, CONFIG)
    assert abs(at_late) <= abs(at_early) <= abs(balance)
    assert at_late * balance >= 0  # never changes sign


def test_one_half_life_halves_the_balance() -> None:
    half_life_us = int(CONFIG.dazzle_half_life_hours * HOUR_US)
    assert dazzle.balance_at(4.0, 0, half_life_us, CONFIG) == pytest.approx(2.0)


@given(st.lists(st.tuples(times, st.floats(min_value=-5, max_value=5)), min_size=1, max_size=8))
def test_impulses_sum_the_same_in_any_order(impulses: list[tuple[int, float]]) -> None:
    def total(order: list[tuple[int, float]]) -> float:
        balance, at = 0.0, 0
        for moment, weight in order:
            balance, at = dazzle.add_impulse(balance, at, weight, moment, CONFIG)
        return dazzle.balance_at(balance, at, 25 * 365 * HOUR_US, CONFIG)

    forward = total(impulses)
    assert total(list(reversed(impulses))) == pytest.approx(forward, abs=1e-9)
    assert total(sorted(impulses)) == pytest.approx(forward, abs=1e-9)


@pytest.mark.parametrize(
    ("loyalty", "balance", "impulse", "after"),
    [
        (dazzle.NEUTRAL, 1.0, 1.0, dazzle.DAZZLED),
        (dazzle.NEUTRAL, 0.5, 0.5, dazzle.NEUTRAL),
        (dazzle.NEUTRAL, -3.0, -3.0, dazzle.NEUTRAL),
        (dazzle.NEUTRAL, -6.0, -3.0, dazzle.LOST),
        (dazzle.DAZZLED, -2.0, -3.0, dazzle.JEOPARDY),
        (dazzle.DAZZLED, 2.0, -1.0, dazzle.JEOPARDY),
        (dazzle.DAZZLED, 1.5, -0.5, dazzle.DAZZLED),
        (dazzle.DAZZLED, 3.0, 1.0, dazzle.DAZZLED),
        (dazzle.RECOVERED, 0.0, -1.0, dazzle.JEOPARDY),
        (dazzle.JEOPARDY, -4.0, -3.0, dazzle.JEOPARDY),
        (dazzle.JEOPARDY, -7.0, -3.0, dazzle.LOST),
        (dazzle.JEOPARDY, 1.2, 1.0, dazzle.RECOVERED),
        (dazzle.JEOPARDY, 0.5, 1.0, dazzle.JEOPARDY),
        (dazzle.LOST, 1.0, 1.0, dazzle.RECOVERED),
        (dazzle.LOST, -9.0, -3.0, dazzle.LOST),
    ],
)
def test_loyalty_transitions(loyalty: str, balance: float, impulse: float, after: str) -> None:
    assert dazzle.next_loyalty(loyalty, balance, impulse, CONFIG) == after


@pytest.mark.parametrize(
    ("loyalty", "balance", "after"),
    [
        (dazzle.DAZZLED, 0.05, dazzle.NEUTRAL),
        (dazzle.RECOVERED, 0.05, dazzle.NEUTRAL),
        (dazzle.DAZZLED, 0.5, dazzle.DAZZLED),
        (dazzle.JEOPARDY, 0.0, dazzle.JEOPARDY),
    ],
)
def test_dazzle_fades_with_time(loyalty: str, balance: float, after: str) -> None:
    assert dazzle.faded(loyalty, balance, CONFIG) == after


@given(st.floats(min_value=-1e6, max_value=1e6))
def test_dazzle_score_is_bounded(balance: float) -> None:
    assert 0.0 <= dazzle.dazzle_score(balance) <= 100.0
