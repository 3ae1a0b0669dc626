from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.consistency import (
    AGENT_EXPERIENCE,
    SPREAD_METRICS,
    consistency,
    summary_samples,
)
from cxpulse.scoring.moments import (
    MetricStats,
    add_decayed,
    add_fixed,
    decayed_stats,
    fixed_stats,
)
from cxpulse.scoring.summary import InteractionSummary

CONFIG = ScoringConfig()

metric_stats = st.builds(
    MetricStats,
    n=st.integers(min_value=1, max_value=10_000),
    mean=st.floats(min_value=-1e6, max_value=1e6),
    sd=st.floats(min_value=0, max_value=1e6),
)
stats_maps = st.dictionaries(
    st.sampled_from([*SPREAD_METRICS, "failed", "wait_breach"]), metric_stats, max_size=9
)
baselines = st.dictionaries(
    st.sampled_from(SPREAD_METRICS), st.floats(min_value=-1e6, max_value=1e6), max_size=7
)


@given(stats_maps, baselines)
def test_score_is_between_0_and_100(
    stats: dict[str, MetricStats], baseline: dict[str, float]
) -> None:
    result = consistency(stats, baseline, CONFIG)
    assert 0.0 <= result.score <= 100.0


def test_a_perfectly_steady_entity_scores_100() -> None:
    stats = {name: MetricStats(20, 3.0, 0.0) for name in SPREAD_METRICS}
    assert consistency(stats, {}, CONFIG).score == pytest.approx(100.0)


def _stats_of(values: list[float]) -> dict[str, MetricStats]:
    sums: dict[str, list[int]] = {}
    for value in values:
        add_fixed(sums, "csat", value)
        add_fixed(sums, "handle", value * 100)
        add_fixed(sums, "sentiment", (value - 3) / 2)
    return fixed_stats(sums)


@given(
    mean=st.integers(min_value=2, max_value=4),
    swing=st.floats(min_value=0.8, max_value=1.0),
    jitter=st.floats(min_value=0.0, max_value=0.3),
    n=st.integers(min_value=4, max_value=60),
)
def test_steady_beats_erratic_with_the_same_mean(
    mean: int, swing: float, jitter: float, n: int
) -> None:
    """Mediocre Mike (always ~mean) against random excellence and chaos (mean ± swing)."""
    half = n // 2
    steady = [mean + jitter * (-1) ** i for i in range(2 * half)]
    erratic = [mean + swing] * half + [mean - swing] * half
    assert sum(steady) == pytest.approx(sum(erratic))
    steady_score = consistency(_stats_of(steady), {}, CONFIG).score
    erratic_score = consistency(_stats_of(erratic), {}, CONFIG).score
    assert steady_score > erratic_score


def test_drift_from_the_own_baseline_costs_points() -> None:
    stats = _stats_of([3.0] * 10)
    assert (
        consistency(stats, {"csat": 3.0}, CONFIG).score
        > consistency(stats, {"csat": 4.5}, CONFIG).score
    )


def test_broken_service_level_and_failures_cost_points_except_for_agents() -> None:
    stats = _stats_of([3.0] * 10) | {
        "failed": MetricStats(10, 0.5, 0.5),
        "wait_breach": MetricStats(10, 0.6, 0.5),
    }
    clean = _stats_of([3.0] * 10)
    assert consistency(stats, {}, CONFIG).breach == pytest.approx(0.5 + (0.8 - 0.4) / 0.8)
    assert consistency(stats, {}, CONFIG).score < consistency(clean, {}, CONFIG).score
    assert consistency(stats, {}, CONFIG, AGENT_EXPERIENCE).breach == 0.0


@given(st.lists(st.floats(min_value=0, max_value=10_000), min_size=1, max_size=40), st.randoms())
def test_fixed_sums_do_not_depend_on_order(values: list[float], rnd: random.Random) -> None:
    shuffled = values[:]
    rnd.shuffle(shuffled)
    first: dict[str, list[int]] = {}
    second: dict[str, list[int]] = {}
    for value in values:
        add_fixed(first, "handle", value)
    for value in shuffled:
        add_fixed(second, "handle", value)
    assert fixed_stats(first) == fixed_stats(second)


@given(st.lists(st.floats(min_value=-1, max_value=1), min_size=2, max_size=40))
def test_undecayed_moments_match_plain_statistics(values: list[float]) -> None:
    moments: dict[str, list[float]] = {}
    for value in values:
        add_decayed(moments, "sentiment", value)
    stats = decayed_stats(moments)["sentiment"]
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    assert stats.n == len(values)
    assert stats.mean == pytest.approx(mean, abs=1e-9)
    assert stats.sd == pytest.approx(sd, abs=1e-6)


@pytest.mark.parametrize(
    ("channel", "wait", "breached"),
    [("voice", 59.0, 0.0), ("voice", 61.0, 1.0), ("email", 3600.0, 0.0), ("sms", 4000.0, 1.0)],
)
def test_wait_is_measured_against_the_channel_promise(
    channel: str, wait: float, breached: float
) -> None:
    summary = InteractionSummary(channel=channel, wait_seconds=wait, grade="OK")
    samples = dict(summary_samples(summary, CONFIG))
    assert samples["wait_breach"] == breached
    assert samples["wait_ratio"] == pytest.approx(wait / CONFIG.promised_wait(channel))
    assert samples["failed"] == 0.0
