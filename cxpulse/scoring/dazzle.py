"""Dazzle / de-dazzle balance and the loyalty state machine (seed 004).

The balance is a sum of signed impulses, each decaying with the event-time half-life:
``B(t) = sum_i w_i * 2 ** (-(t - t_i) / half_life)``.  Dazzling events add, de-dazzling
events subtract more (a broken promise weighs three dazzles by default).

Loyalty states: ``neutral`` -> ``dazzled`` (balance reaches ``dazzled_balance``) ->
``jeopardy`` (a de-dazzle of at least ``jeopardy_min_impulse``) -> ``recovered`` (balance
back to ``dazzled_balance``) or ``lost`` (balance down to ``lost_balance``, from any state).
A dazzled or recovered customer whose balance fades below ``fade_balance`` with time goes
quietly back to ``neutral``.
"""

from __future__ import annotations

import math

from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.eventtime import hours_between

NEUTRAL = "neutral"
DAZZLED = "dazzled"
JEOPARDY = "jeopardy"
RECOVERED = "recovered"
LOST = "lost"

_ONCE_DAZZLED = frozenset({DAZZLED, RECOVERED})


def decay_factor(hours: float, config: ScoringConfig) -> float:
    return float(2.0 ** (-hours / config.dazzle_half_life_hours))


def balance_at(balance: float, balance_us: int, now_us: int, config: ScoringConfig) -> float:
    """The balance as seen at ``now_us``; never grows in magnitude as time passes."""
    if now_us <= balance_us:
        return balance
    return balance * decay_factor(hours_between(balance_us, now_us), config)


def add_impulse(
    balance: float, balance_us: int, impulse: float, at_us: int, config: ScoringConfig
) -> tuple[float, int]:
    """Add an impulse that happened at ``at_us``; returns (balance, its reference time).

    An impulse older than the reference time is added already decayed, so the result is
    the same sum as if the events had come in time order.
    """
    if at_us >= balance_us:
        return balance_at(balance, balance_us, at_us, config) + impulse, at_us
    return balance + impulse * decay_factor(hours_between(at_us, balance_us), config), balance_us


def faded(loyalty: str, balance: float, config: ScoringConfig) -> str:
    if loyalty in _ONCE_DAZZLED and balance < config.fade_balance:
        return NEUTRAL
    return loyalty


def next_loyalty(loyalty: str, balance: float, impulse: float, config: ScoringConfig) -> str:
    """The loyalty state after an impulse moved the balance to ``balance``."""
    if impulse < 0:
        if balance <= config.lost_balance:
            return LOST
        if loyalty in _ONCE_DAZZLED and -impulse >= config.jeopardy_min_impulse:
            return JEOPARDY
        return loyalty
    if impulse > 0 and balance >= config.dazzled_balance:
        if loyalty == NEUTRAL:
            return DAZZLED
        if loyalty in (JEOPARDY, LOST):
            return RECOVERED
    return loyalty


def dazzle_score(balance: float) -> float:
    """The balance mapped onto 0-100 (50 = even)."""
    return 50.0 * (1.0 + math.tanh(balance / 2.0))
