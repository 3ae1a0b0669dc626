from __future__ import annotations

import random
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxpulse.agents.scoring.config import US_PER_MINUTE, ScoringConfig
from cxpulse.agents.scoring.emitted import Emitted
from cxpulse.agents.scoring.entity import EntityState, score_entity_summary, summary_routes
from cxpulse.agents.scoring.summary import InteractionSummary
from cxpulse.schemas.outputs import EntityType

CONFIG = ScoringConfig()
T0_US = 1_741_000_000 * 1_000_000 // 3_600_000_000 * 3_600_000_000  # on an hour boundary
AGENT = EntityType.AGENT
QUEUE = EntityType.QUEUE


def contact(
    n: int, minute: float, *, handle: float = 300.0, csat: int = 3, grade: str = "OK"
) -> InteractionSummary:
    return InteractionSummary(
        summary_id=f"e{n}/i{n}",
        kind="interaction",
        event_id=f"e{n}",
        customer_id=f"c{n}",
        occurred_at_us=T0_US + int(minute * US_PER_MINUTE),
        interaction_id=f"i{n}",
        channel="voice",
        queue_id="q1",
        agent_id="a1",
        outcome="resolved",
        wait_seconds=30.0,
        handle_seconds=handle,
        hold_seconds=0.0,
        transfers=0,
        csat=csat,
        sentiment=(csat - 3) / 2,
        grade=grade,
    )


def feed(
    summaries: Iterable[InteractionSummary],
    entity_type: EntityType = AGENT,
    config: ScoringConfig = CONFIG,
) -> tuple[EntityState | None, list[Emitted]]:
    return feed_lanes(((summary, 0) for summary in summaries), entity_type, config)


def feed_lanes(
    arrivals: Iterable[tuple[InteractionSummary, int]],
    entity_type: EntityType = AGENT,
    config: ScoringConfig = CONFIG,
) -> tuple[EntityState | None, list[Emitted]]:
    """Feed (summary, lane) pairs in the given order."""
    state = None
    emitted = []
    for summary, lane in arrivals:
        state, out = score_entity_summary(state, entity_type, "a1", summary, config, lane=lane)
        emitted.append(out)
    return state, emitted


def kinds(emitted: list[Emitted]) -> list[str]:
    return [alert.kind for out in emitted for alert in out.alerts]


def steady(n: int, start: float = 0.0) -> list[InteractionSummary]:
    return [contact(i, start + i * 50 / n, handle=300 + i % 3, csat=3) for i in range(n)]


def erratic(n: int, start: float = 0.0, first: int = 0) -> list[InteractionSummary]:
    """Random acts of excellence and chaos: the same mean as ``steady``."""
    return [
        contact(first + i, start + i * 50 / n, handle=120 if i % 2 else 480, csat=5 if i % 2 else 1)
        for i in range(n)
    ]


CLOSER = contact(10_000, 60 + CONFIG.allowed_lateness_minutes)


@pytest.mark.parametrize(
    ("summary", "routes"),
    [
        (InteractionSummary(agent_id="a", queue_id="q"), [(AGENT, "a"), (QUEUE, "q")]),
        (InteractionSummary(queue_id="q"), [(QUEUE, "q")]),
        (InteractionSummary(kind="followup", agent_id="a"), [(AGENT, "a")]),
        (
            InteractionSummary(kind="promise", service_id="s", queue_id="q"),
            [(EntityType.SERVICE, "s")],
        ),
        (InteractionSummary(kind="promise"), []),
    ],
)
def test_summary_routes(summary: InteractionSummary, routes: list[tuple[EntityType, str]]) -> None:
    assert summary_routes(summary) == routes


def test_a_window_closes_only_after_its_end_plus_the_allowed_lateness() -> None:
    just_before = contact(500, 60 + CONFIG.allowed_lateness_minutes - 0.01)
    state, emitted = feed([*steady(12), just_before])
    assert all(out.windows_closed == 0 for out in emitted)
    state, out = score_entity_summary(state, AGENT, "a1", CLOSER, CONFIG)
    assert out.windows_closed == 1
    (snapshot,) = out.snapshots
    assert snapshot.scores["interactions"] == 12
    assert snapshot.as_of.minute == 0
    assert snapshot.labels["window_start"].endswith(":00:00+00:00")


def test_a_summary_for_a_closed_window_is_late_and_ignored() -> None:
    state, _ = feed([*steady(12), CLOSER])
    assert state is not None
    before = state.to_bytes()
    state, out = score_entity_summary(state, AGENT, "a1", contact(999, 30), CONFIG)
    assert out == Emitted(late_summaries=1)
    assert state.late == 1
    state.late = 0
    assert state.to_bytes() == before


def test_an_erratic_agent_drops_and_a_steady_one_does_not() -> None:
    assert kinds(feed([*steady(20), CLOSER])[1]) == []
    _, emitted = feed([*erratic(20), CLOSER])
    assert kinds(emitted) == ["consistency_drop"]
    alert = emitted[-1].alerts[0]
    assert alert.scores["consistency"] < alert.thresholds["consistency"]
    assert alert.entity_type == AGENT
    assert alert.evidence


def test_no_consistency_alert_below_the_minimum_sample() -> None:
    few = erratic(CONFIG.entity_min_samples - 1)
    state, emitted = feed([*few, CLOSER])
    assert kinds(emitted) == []
    assert "window_consistency" in emitted[-1].snapshots[0].scores
    assert state is not None
    assert state.consistency is None


def test_consistency_drop_is_raised_once_until_the_score_recovers() -> None:
    hours = [*erratic(20, 0), *erratic(20, 60, first=100), *erratic(20, 120, first=200)]
    closer = contact(9_999, 3 * 60 + CONFIG.allowed_lateness_minutes)
    _, emitted = feed([*hours, closer])
    assert kinds(emitted) == ["consistency_drop"]
    assert sum(out.windows_closed for out in emitted) == 3


def test_a_failure_burst_on_a_queue() -> None:
    failures = [contact(i, i, grade="F") for i in range(CONFIG.burst_min_failures)]
    fine = [contact(100 + i, 30 + i) for i in range(5)]
    _, emitted = feed([*failures, *fine, CLOSER], QUEUE)
    (alert,) = [a for out in emitted for a in out.alerts if a.kind == "failure_burst"]
    assert alert.scores["failures"] == CONFIG.burst_min_failures
    assert alert.scores["failure_rate"] == pytest.approx(0.5)
    assert alert.evidence == [f"e{i}" for i in range(CONFIG.burst_min_failures)]
    # one failure fewer: no burst
    _, emitted = feed([*failures[1:], *fine, CLOSER], QUEUE)
    assert "failure_burst" not in kinds(emitted)


def test_agents_do_not_raise_failure_bursts() -> None:
    failures = [contact(i, i, grade="F") for i in range(10)]
    assert "failure_burst" not in kinds(feed([*failures, CLOSER], AGENT)[1])


def test_cooldown_spans_windows() -> None:
    config = ScoringConfig(alert_cooldown_minutes=120)
    first = [contact(i, i, grade="F") for i in range(6)]
    second = [contact(100 + i, 60 + i, grade="F") for i in range(6)]
    third = [contact(200 + i, 120 + i, grade="F") for i in range(6)]
    closer = contact(999, 180 + CONFIG.allowed_lateness_minutes)
    _, emitted = feed([*first, *second, *third, closer], QUEUE, config)
    bursts = [a for out in emitted for a in out.alerts if a.kind == "failure_burst"]
    assert [a.occurred_at.hour - bursts[0].occurred_at.hour for a in bursts] == [0, 2]


draw = st.tuples(
    st.floats(min_value=0, max_value=239.99),
    st.integers(min_value=30, max_value=900),
    st.integers(min_value=1, max_value=5),
    st.sampled_from(["OK", "OK", "F", "A"]),
)
windowed = st.lists(draw, min_size=1, max_size=120)


@settings(max_examples=60, deadline=None)
@given(windowed, st.randoms(use_true_random=False))
def test_any_arrival_order_within_the_lateness_gives_the_same_result(
    draws: list[tuple[float, int, int, str]], rnd: random.Random
) -> None:
    summaries = [
        contact(i, minute, handle=handle, csat=csat, grade=grade)
        for i, (minute, handle, csat, grade) in enumerate(draws)
    ]
    summaries.append(contact(99_999, 240 + CONFIG.allowed_lateness_minutes))
    in_order = sorted(summaries, key=lambda s: s.sort_key)
    lateness = CONFIG.allowed_lateness_us
    jittered = sorted(summaries, key=lambda s: s.occurred_at_us + rnd.randrange(lateness))
    config = ScoringConfig(entity_min_samples=3, burst_min_failures=2)
    for entity_type in (AGENT, QUEUE):
        state_a, out_a = feed(in_order, entity_type, config)
        state_b, out_b = feed(jittered, entity_type, config)
        assert state_a == state_b
        alerts_a = [a for out in out_a for a in out.alerts]
        alerts_b = [a for out in out_b for a in out.alerts]
        assert alerts_a == alerts_b
        snaps_a = [s for out in out_a for s in out.snapshots]
        assert snaps_a == [s for out in out_b for s in out.snapshots]
        assert all(0 <= s.scores.get("consistency", 50) <= 100 for s in snaps_a)


@settings(max_examples=30, deadline=None)
@given(windowed, st.randoms(use_true_random=False))
def test_entity_state_round_trips_through_bytes(
    draws: list[tuple[float, int, int, str]], rnd: random.Random
) -> None:
    config = ScoringConfig(lanes=3)
    state: EntityState | None = None
    for i, (minute, handle, csat, grade) in enumerate(draws):
        summary = contact(i, minute * 3, handle=handle, csat=csat, grade=grade)
        lane = rnd.randrange(config.lanes)
        state, _ = score_entity_summary(state, QUEUE, "q1", summary, config, lane=lane)
        restored = EntityState.from_bytes(state.to_bytes())
        assert restored == state


@given(
    st.builds(
        InteractionSummary,
        summary_id=st.text(max_size=8),
        occurred_at_us=st.integers(min_value=0, max_value=2**62),
        wait_seconds=st.none() | st.floats(allow_nan=False, allow_infinity=False),
        csat=st.none() | st.integers(1, 5),
        repeat=st.booleans(),
        evidence=st.lists(st.text(max_size=5), max_size=4).map(tuple),
    )
)
def test_summary_round_trips_through_bytes(summary: InteractionSummary) -> None:
    assert InteractionSummary.from_bytes(summary.to_bytes()) == summary


# --- lanes: one watermark per events-topic partition -------------------------------------

TWO_LANES = ScoringConfig(lanes=2)
END_PLUS_LATENESS = 60 + CONFIG.allowed_lateness_minutes


def test_a_window_stays_open_while_one_lane_lags_and_closes_when_all_have_passed() -> None:
    ahead = [(summary, 0) for summary in steady(12)]
    ahead.append((contact(500, END_PLUS_LATENESS + 120), 0))  # lane 0 is hours ahead
    state, emitted = feed_lanes(ahead, config=TWO_LANES)
    assert sum(out.windows_closed for out in emitted) == 0
    # lane 1 is still in the first window: its contact belongs there, not late
    state, out = score_entity_summary(state, AGENT, "a1", contact(600, 40), TWO_LANES, lane=1)
    assert out == Emitted()
    state, out = score_entity_summary(
        state, AGENT, "a1", contact(601, END_PLUS_LATENESS - 0.01), TWO_LANES, lane=1
    )
    assert out.windows_closed == 0
    state, out = score_entity_summary(
        state, AGENT, "a1", contact(602, END_PLUS_LATENESS), TWO_LANES, lane=1
    )
    assert [s.scores["interactions"] for s in out.snapshots] == [13]
    assert state.late == 0


def test_a_lane_that_never_carries_the_entity_does_not_hold_windows_forever() -> None:
    idle = TWO_LANES.idle_lane_hours * 60
    state, emitted = feed_lanes(
        [
            *((summary, 0) for summary in steady(12)),
            (contact(500, END_PLUS_LATENESS + idle - 1), 0),
        ],
        config=TWO_LANES,
    )
    assert sum(out.windows_closed for out in emitted) == 0
    state, out = score_entity_summary(
        state, AGENT, "a1", contact(501, END_PLUS_LATENESS + idle), TWO_LANES, lane=0
    )
    assert [s.scores["interactions"] for s in out.snapshots] == [12]
    # a lane that lagged by more than the idle time: its summary for that window is late
    state, out = score_entity_summary(state, AGENT, "a1", contact(502, 30), TWO_LANES, lane=1)
    assert out == Emitted(late_summaries=1)
    assert state.late == 1


def test_a_lane_beyond_the_configured_ones_is_waited_for_too() -> None:
    pairs = [(summary, 0) for summary in steady(12)] + [(contact(700, 10), 5)]
    pairs += [(contact(701 + lane, END_PLUS_LATENESS), lane) for lane in (0, 1)]
    state, emitted = feed_lanes(pairs, config=TWO_LANES)
    assert sum(out.windows_closed for out in emitted) == 0
    assert state is not None
    assert len(state.lane_high) == 6
    _, out = score_entity_summary(
        state, AGENT, "a1", contact(800, END_PLUS_LATENESS), TWO_LANES, lane=5
    )
    assert out.windows_closed == 1


def test_a_negative_lane_is_refused() -> None:
    with pytest.raises(ValueError, match="lane must be >= 0"):
        score_entity_summary(None, AGENT, "a1", contact(1, 1), CONFIG, lane=-1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"lanes": 0}, "lanes must be >= 1"), ({"idle_lane_hours": -1.0}, "idle_lane_hours")],
)
def test_lane_parameters_are_validated(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScoringConfig(**changes)  # type: ignore[arg-type]


def interleave_lanes(
    lanes: list[list[tuple[InteractionSummary, int]]], rnd: random.Random
) -> list[tuple[InteractionSummary, int]]:
    """Any merge of the lanes that keeps each lane's own order."""
    pending = [list(reversed(lane)) for lane in lanes if lane]
    merged = []
    while pending:
        lane = rnd.choice(pending)
        merged.append(lane.pop())
        if not lane:
            pending.remove(lane)
    return merged


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(draw, st.integers(min_value=0, max_value=3)), min_size=1, max_size=120),
    st.integers(min_value=1, max_value=4),
    st.randoms(use_true_random=False),
)
def test_any_interleaving_of_time_ordered_lanes_gives_the_sorted_result(
    draws: list[tuple[tuple[float, int, int, str], int]], lane_count: int, rnd: random.Random
) -> None:
    arrivals = [
        (contact(i, minute, handle=handle, csat=csat, grade=grade), lane % lane_count)
        for i, ((minute, handle, csat, grade), lane) in enumerate(draws)
    ]
    arrivals += [
        (contact(90_000 + lane, 240 + CONFIG.allowed_lateness_minutes), lane)
        for lane in range(lane_count)
    ]
    in_order = sorted(arrivals, key=lambda pair: pair[0].sort_key)
    lanes = [[pair for pair in in_order if pair[1] == lane] for lane in range(lane_count)]
    interleaved = interleave_lanes(lanes, rnd)
    config = ScoringConfig(lanes=lane_count, entity_min_samples=3, burst_min_failures=2)
    for entity_type in (AGENT, QUEUE):
        state_a, out_a = feed_lanes(in_order, entity_type, config)
        state_b, out_b = feed_lanes(interleaved, entity_type, config)
        assert state_a == state_b
        assert state_b is not None
        assert state_b.late == 0
        assert [a for out in out_a for a in out.alerts] == [a for out in out_b for a in out.alerts]
        snaps_a = [s for out in out_a for s in out.snapshots]
        assert snaps_a
        assert snaps_a == [s for out in out_b for s in out.snapshots]
