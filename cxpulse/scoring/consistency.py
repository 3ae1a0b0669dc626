"""Consistency (seed 002): predictability of the experience, not excellence.

    instability = mean over spread metrics with n >= 3 of min(sd / scale, spread_cap)
    drift       = mean over spread metrics with a baseline of
                  min(max(|mean - baseline| - sd / sqrt(n), 0) / scale, cap)
    breach      = failure rate + max(0, target - service level) / target
    score       = 100 * exp(-(instability + drift_weight * drift + breach_weight * breach))

Spread metrics are wait_ratio (wait / promised wait of the channel), handle, hold,
transfers, csat, effort and customer sentiment; their scales are in
``ScoringConfig.spread_scales``.  Only dispersion, drift from the entity's own baseline and
broken promises cost points: a steady "mediocre Mike" keeps a high score, random acts of
excellence and chaos lose it even with a good mean.  Agents answer only for what they
control (``AGENT_EXPERIENCE``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.moments import MetricStats
from cxpulse.scoring.report_card import F
from cxpulse.scoring.summary import INTERACTION, InteractionSummary

SPREAD_METRICS = ("wait_ratio", "handle", "hold", "transfers", "csat", "effort", "sentiment")
#: A spread needs this many samples of a metric in the window (or the customer's history).
MIN_SPREAD_SAMPLES = 3


@dataclass(frozen=True, slots=True)
class Profile:
    """Which metrics an entity answers for, and whether broken promises count against it."""

    metrics: tuple[str, ...]
    breach: bool


#: Customers and queues: the whole experience, held to the promised service level.
WHOLE_EXPERIENCE = Profile(SPREAD_METRICS, breach=True)
#: Agents: what an agent controls, not the queue's wait nor the core service behind them.
AGENT_EXPERIENCE = Profile(SPREAD_METRICS[1:], breach=False)


@dataclass(frozen=True, slots=True)
class Consistency:
    score: float
    instability: float
    drift: float
    breach: float


def summary_samples(summary: InteractionSummary, config: ScoringConfig) -> list[tuple[str, float]]:
    """The experience metrics one summary contributes, as (metric, value)."""
    samples: list[tuple[str, float]] = []
    if summary.wait_seconds is not None:
        waited = summary.wait_seconds / config.promised_wait(summary.channel)
        samples.append(("wait_ratio", waited))
        samples.append(("wait_breach", 1.0 if waited > 1.0 else 0.0))
    for name, value in (
        ("handle", summary.handle_seconds),
        ("hold", summary.hold_seconds),
        ("transfers", summary.transfers),
        ("csat", summary.csat),
        ("effort", summary.effort),
        ("sentiment", summary.sentiment),
    ):
        if value is not None:
            samples.append((name, float(value)))
    if summary.kind == INTERACTION and summary.grade is not None:
        samples.append(("failed", 1.0 if summary.grade == F else 0.0))
    return samples


def _rate(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def consistency(
    stats: Mapping[str, MetricStats],
    baseline: Mapping[str, float],
    config: ScoringConfig,
    profile: Profile = WHOLE_EXPERIENCE,
) -> Consistency:
    scales = config.spread_scales
    cap = config.spread_cap
    spreads: list[float] = []
    drifts: list[float] = []
    for name in profile.metrics:
        metric = stats.get(name)
        if metric is None:
            continue
        if metric.n >= MIN_SPREAD_SAMPLES:
            spreads.append(min(metric.sd / scales[name], cap))
        if name in baseline:
            # Only the part of the gap its own sampling noise (one standard error) cannot
            # explain: a pool of ten contacts is not a drift because its mean wobbles.
            gap = abs(metric.mean - baseline[name]) - metric.sd / math.sqrt(metric.n)
            drifts.append(min(max(gap, 0.0) / scales[name], cap))
    instability = _mean(spreads)
    drift = _mean(drifts)
    breach = 0.0
    if profile.breach and (failed := stats.get("failed")) is not None:
        breach += _rate(failed.mean)
    if profile.breach and (late := stats.get("wait_breach")) is not None:
        target = config.service_level_target
        breach += max(0.0, target - (1.0 - _rate(late.mean))) / target
    penalty = instability + config.drift_weight * drift + config.breach_weight * breach
    return Consistency(100.0 * math.exp(-penalty), instability, drift, breach)


def update_baseline(
    baseline: dict[str, float], stats: Mapping[str, MetricStats], config: ScoringConfig
) -> None:
    """Exponential moving average of past window means, one step per closed window."""
    alpha = config.baseline_alpha
    for name in SPREAD_METRICS:
        metric = stats.get(name)
        if metric is None:
            continue
        previous = baseline.get(name)
        baseline[name] = (
            metric.mean if previous is None else previous + alpha * (metric.mean - previous)
        )
