from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxpulse.schemas.events import Event
from cxpulse.schemas.outputs import EntityType
from cxpulse.scoring.alerts import make_alert
from cxpulse.scoring.config import US_PER_MINUTE, ScoringConfig
from cxpulse.scoring.customer import CustomerState, score_customer_event
from cxpulse.scoring.emitted import DUPLICATE, Emitted
from cxpulse.scoring.entity import EntityState, summary_routes
from cxpulse.scoring.partition import score_partition_record
from cxpulse.scoring.summary import InteractionSummary
from cxpulse.scoring.windows import PartitionClock
from cxpulse.worker.lanes import lane_for
from tests.unit.scoring.make import Events, score_alone

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
        state, out = score_alone(state, entity_type, "a1", summary, config, lane=lane)
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
    state, out = score_alone(state, AGENT, "a1", CLOSER, CONFIG)
    assert out.windows_closed == 1
    (snapshot,) = out.snapshots
    assert snapshot.scores["interactions"] == 12
    assert snapshot.as_of.minute == 0
    assert snapshot.labels["window_start"].endswith(":00:00+00:00")


def test_a_summary_for_a_closed_window_is_late_and_ignored() -> None:
    state, _ = feed([*steady(12), CLOSER])
    assert state is not None
    before = state.to_bytes()
    state, out = score_alone(state, AGENT, "a1", contact(999, 30), CONFIG)
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


def test_an_incident_spans_bursting_windows_under_one_group_key_then_resolves() -> None:
    first = [contact(i, i, grade="F") for i in range(6)]
    second = [contact(100 + i, 60 + i, grade="F") for i in range(6)]
    quiet = [contact(200 + i, 120 + i) for i in range(6)]
    closer = contact(999, 180 + CONFIG.allowed_lateness_minutes)
    _, emitted = feed([*first, *second, *quiet, closer], QUEUE)
    bursts = [a for out in emitted for a in out.alerts if a.kind == "failure_burst"]
    assert [a.status for a in bursts] == ["firing", "firing", "resolved"]
    assert len({a.group_key for a in bursts}) == 1
    assert len({a.alert_id for a in bursts}) == 3
    assert [a.scores["incident_failures"] for a in bursts] == [6, 12, 12]
    assert bursts[-1].occurred_at == bursts[0].occurred_at + timedelta(hours=2)


def held(number: int, minute: float) -> InteractionSummary:
    alert = make_alert(
        "repeat_failure",
        EntityType.CUSTOMER,
        f"c{number}",
        at_us=T0_US + round(minute * US_PER_MINUTE),
        trigger=f"e{number}",
        reason="failed again",
        scores={},
        thresholds={},
        evidence=[f"e{number}"],
    )
    return InteractionSummary(
        summary_id=f"e{number}/held",
        kind="held",
        event_id=f"e{number}",
        customer_id=f"c{number}",
        occurred_at_us=T0_US + round(minute * US_PER_MINUTE),
        queue_id="q1",
        held_alert=alert.to_json().decode(),
    )


def test_a_queue_publishes_the_alerts_held_for_a_quiet_window_and_folds_a_burst_s() -> None:
    quiet = [contact(i, i) for i in range(6)]
    burst = [contact(100 + i, 60 + i, grade="F") for i in range(6)]
    closer = contact(999, 120 + CONFIG.allowed_lateness_minutes)
    _, emitted = feed([*quiet, held(1, 10), *burst, held(2, 70), closer], QUEUE)
    published = [a for out in emitted for a in out.alerts]
    assert [(a.kind, a.entity_type, a.entity_id) for a in published] == [
        ("repeat_failure", "customer", "c1"),
        ("failure_burst", "queue", "a1"),
    ]
    assert published[1].scores["folded_alerts"] == 1
    assert summary_routes(held(3, 0)) == [(QUEUE, "q1")]


def test_a_queue_burst_a_service_explains_is_left_to_the_services_incident() -> None:
    broken = [replace(contact(i, i, grade="F"), service_id="svc") for i in range(6)]
    closer = contact(999, 120 + CONFIG.allowed_lateness_minutes)
    _, emitted = feed([*broken, closer], QUEUE)
    assert [a for out in emitted for a in out.alerts] == []
    _, emitted = feed(
        [*broken[:2], *(contact(10 + i, 10 + i, grade="F") for i in range(4)), closer], QUEUE
    )
    assert [a.status for out in emitted for a in out.alerts] == ["firing", "resolved"]


def test_an_incident_resolves_once_the_watermark_passes_a_window_without_traffic() -> None:
    failures = [contact(i, i, grade="F") for i in range(6)]
    late_traffic = contact(999, 240)  # nothing in 60-120: that window passed quietly
    _, emitted = feed([*failures, late_traffic], QUEUE)
    bursts = [a for out in emitted for a in out.alerts if a.kind == "failure_burst"]
    assert [a.status for a in bursts] == ["firing", "resolved"]
    assert bursts[1].occurred_at - bursts[0].occurred_at == timedelta(hours=1)
    assert bursts[1].scores["customers_hit"] == len({s.customer_id for s in failures})


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
        state, _ = score_alone(state, QUEUE, "q1", summary, config, lane=lane)
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
    state, out = score_alone(state, AGENT, "a1", contact(600, 40), TWO_LANES, lane=1)
    assert out == Emitted()
    state, out = score_alone(
        state, AGENT, "a1", contact(601, END_PLUS_LATENESS - 0.01), TWO_LANES, lane=1
    )
    assert out.windows_closed == 0
    state, out = score_alone(state, AGENT, "a1", contact(602, END_PLUS_LATENESS), TWO_LANES, lane=1)
    assert [s.scores["interactions"] for s in out.snapshots] == [13]
    assert state.late == 0


def test_a_lane_that_has_not_reported_holds_every_window_however_far_the_others_are() -> None:
    # A crash and a catch-up can run one lane days ahead: no window may close early, or the
    # lagging lane's summaries would be late in the stream and counted in the replay.
    state, emitted = feed_lanes(
        [*((summary, 0) for summary in steady(12)), (contact(500, 14 * 24 * 60), 0)],
        config=TWO_LANES,
    )
    assert sum(out.windows_closed for out in emitted) == 0
    state, out = score_alone(state, AGENT, "a1", contact(502, 30), TWO_LANES, lane=1)
    assert out == Emitted()
    assert state.late == 0
    state, out = score_alone(state, AGENT, "a1", contact(503, END_PLUS_LATENESS), TWO_LANES, lane=1)
    assert [s.scores["interactions"] for s in out.snapshots] == [13]


def test_a_partition_clock_closes_a_quiet_entity_by_the_traffic_of_others() -> None:
    clock = PartitionClock()
    states: dict[str, EntityState] = {}
    for summary in steady(12):
        step = score_partition_record(
            clock,
            states.get,
            [(summary, [(AGENT, "quiet")])],
            CONFIG,
            lane=0,
            lane_high_us=summary.occurred_at_us,
        )
        states.update(step.states)
    assert clock.open == {"agent:quiet": T0_US + 60 * US_PER_MINUTE}
    busy = contact(900, END_PLUS_LATENESS)
    step = score_partition_record(
        clock,
        states.get,
        [(busy, [(AGENT, "busy")])],
        CONFIG,
        lane=0,
        lane_high_us=busy.occurred_at_us,
    )
    closed = [s for out in step.emitted for s in out.snapshots if s.entity_id == "quiet"]
    assert [s.scores["interactions"] for s in closed] == [12]
    assert "agent:quiet" not in clock.open


def test_a_lane_beyond_the_configured_ones_is_waited_for_too() -> None:
    pairs = [(summary, 0) for summary in steady(12)] + [(contact(700, 10), 5)]
    pairs += [(contact(701 + lane, END_PLUS_LATENESS), lane) for lane in (0, 1)]
    state, emitted = feed_lanes(pairs, config=TWO_LANES)
    assert sum(out.windows_closed for out in emitted) == 0
    assert state is not None
    _, out = score_alone(state, AGENT, "a1", contact(800, END_PLUS_LATENESS), TWO_LANES, lane=5)
    assert out.windows_closed == 1


def test_a_negative_lane_is_refused() -> None:
    with pytest.raises(ValueError, match="lane must be >= 0"):
        score_alone(None, AGENT, "a1", contact(1, 1), CONFIG, lane=-1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lanes": 0}, "lanes must be >= 1"),
        ({"consistency_pool_max_hours": -1.0}, "consistency_pool_max_hours"),
    ],
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


# --- deduplication: summaries are delivered at least once --------------------------------

#: Small windows are scored and alert often.
ONCE_CONFIG = ScoringConfig(
    entity_min_samples=3, burst_min_failures=2, consistency_alert_threshold=60
)


def copy_of(summary: InteractionSummary) -> InteractionSummary:
    """The same summary as it comes back from the topic."""
    return InteractionSummary.from_bytes(summary.to_bytes())


LATER = contact(2, 40)
OTHER_LANE = contact(3, 45)


@pytest.mark.parametrize(
    ("before_copy", "copy_lane", "copy", "expected"),
    [
        pytest.param([], 0, contact(1, 10), DUPLICATE, id="right after the original"),
        pytest.param([(LATER, 0), (OTHER_LANE, 1)], 0, contact(1, 10), DUPLICATE, id="later"),
        pytest.param([(LATER, 0)], 1, contact(1, 10), DUPLICATE, id="on another lane"),
        pytest.param(
            [(LATER, 0), (contact(4, END_PLUS_LATENESS), 0), (contact(5, END_PLUS_LATENESS), 1)],
            0,
            contact(1, 10),
            Emitted(late_summaries=1),
            id="after its window closed: late, as any summary for a closed window",
        ),
        pytest.param(
            [],
            0,
            replace(contact(1, 10), occurred_at_us=contact(1, 11).occurred_at_us),
            Emitted(),
            id="the same id at another time is another summary",
        ),
    ],
)
def test_a_resent_summary_is_a_duplicate_while_its_window_is_open(
    before_copy: list[tuple[InteractionSummary, int]],
    copy_lane: int,
    copy: InteractionSummary,
    expected: Emitted,
) -> None:
    state, _ = feed_lanes([(contact(1, 10), 0), *before_copy], config=TWO_LANES)
    assert state is not None
    before = state.to_bytes()
    state, out = score_alone(state, AGENT, "a1", copy_of(copy), TWO_LANES, lane=copy_lane)
    assert out == expected
    if expected == DUPLICATE:
        assert state.to_bytes() == before  # no effect at all
    elif expected.late_summaries:
        assert state.late == 1
    else:
        assert state.windows[0].interactions == 2


contacts_of_customers = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=7),  # customer
        st.floats(min_value=0, max_value=180),  # minute the contact starts
        st.sampled_from(["resolved", "resolved", "resolved", "unresolved", "abandoned"]),
        st.integers(min_value=30, max_value=900),  # handle seconds
        st.sampled_from(["a1", "a2"]),
        # feedback after the end (a followup summary): csat, minutes after the end
        st.none() | st.tuples(st.integers(1, 5), st.floats(min_value=0.1, max_value=120)),
        st.none() | st.booleans(),  # a promise of service s1 at the start: kept or broken
    ),
    min_size=1,
    max_size=80,
)


def realistic_arrivals(
    draws: list[tuple[int, float, str, int, str, tuple[int, float] | None, bool | None]],
    config: ScoringConfig,
) -> dict[tuple[EntityType, str], list[tuple[InteractionSummary, int]]]:
    """Events of a few customers, scored by the customer scorer in event-time order; the
    summaries each entity receives, with the lane of their customer, in emission order."""
    customers = {index: Events(f"c{index}", prefix=f"c{index}-e") for index in range(8)}
    timed: list[tuple[datetime, int, Event]] = []
    for contact_index, (who, minute, outcome, handle, agent, feedback, promise) in enumerate(draws):
        make = customers[who]
        interaction = f"c{who}-i{contact_index}"
        events = make.contact(interaction, minute, outcome, agent_id=agent, handle=handle)
        if feedback is not None:
            csat, after = feedback
            events.append(
                make.make(
                    "feedback.received", minute + 2 + after, interaction_id=interaction, csat=csat
                )
            )
        if promise is not None:
            kind = "service.promise_kept" if promise else "service.promise_broken"
            events.append(make.make(kind, minute, promise="outage", service_id="s1"))
        timed += [(event.occurred_at, who, event) for event in events]
    timed.sort(key=lambda item: (item[0], item[1]))  # each customer's events in time order
    states: dict[str, CustomerState] = {}
    arrivals: defaultdict[tuple[EntityType, str], list[tuple[InteractionSummary, int]]] = (
        defaultdict(list)
    )
    for _, _, event in timed:
        state, out = score_customer_event(states.get(event.customer_id), event, config)
        states[event.customer_id] = state
        lane = lane_for(event.customer_id, config.lanes)
        for summary in out.summaries:
            for route in summary_routes(summary):
                arrivals[route].append((summary, lane))
    return arrivals


def score_all(
    route: tuple[EntityType, str],
    arrivals: Iterable[tuple[InteractionSummary, int]],
    config: ScoringConfig,
) -> tuple[EntityState | None, list[Emitted]]:
    state = None
    emitted = []
    for summary, lane in arrivals:
        state, out = score_alone(state, *route, summary, config, lane=lane)
        emitted.append(out)
    return state, emitted


@settings(max_examples=50, deadline=None)
@given(
    contacts_of_customers, st.integers(min_value=1, max_value=3), st.randoms(use_true_random=False)
)
def test_resent_summaries_anywhere_change_nothing(
    draws: list[tuple[int, float, str, int, str, tuple[int, float] | None, bool | None]],
    lane_count: int,
    rnd: random.Random,
) -> None:
    config = replace(ONCE_CONFIG, lanes=lane_count)
    closers = [(contact(99_990 + lane, 900), lane) for lane in range(lane_count)]
    closed = 0
    for route, arrivals in realistic_arrivals(draws, config).items():
        lanes = [[pair for pair in arrivals if pair[1] == lane] for lane in range(lane_count)]
        once = [*interleave_lanes(lanes, rnd), *closers]
        # a random subsequence of the summaries comes again, each anywhere after its original
        resent = sorted(rnd.sample(range(len(once)), rnd.randint(1, len(once))))
        twice: list[tuple[InteractionSummary, int, bool]] = [(s, lane, False) for s, lane in once]
        for index in reversed(resent):
            summary, lane = once[index]
            position = rnd.randint(index + 1, len(twice))
            twice.insert(position, (copy_of(summary), lane, True))
        state_once, out_once = score_all(route, once, config)
        state_twice: EntityState | None = None
        out_twice: list[Emitted] = []
        late_copies = 0
        for summary, lane, is_copy in twice:
            before = state_twice.to_bytes() if state_twice is not None else None
            state_twice, out = score_alone(state_twice, *route, summary, config, lane=lane)
            if not is_copy:
                out_twice.append(out)
                continue
            # a copy has no effect; one for a closed window is counted late, as any summary
            assert out in (DUPLICATE, Emitted(late_summaries=1))
            late_copies += out.late_summaries
            state_twice.late -= out.late_summaries
            assert state_twice.to_bytes() == before
            state_twice.late += out.late_summaries
        assert out_twice == out_once  # every alert and snapshot, in the same order
        assert state_once is not None
        assert state_twice is not None
        assert state_twice.late == state_once.late + late_copies
        assert replace(state_twice, late=state_once.late) == state_once
        closed += state_once.windows_closed
    assert closed > 0


@pytest.mark.parametrize("cap", [1, 7, CONFIG.dedup_max_ids])
@pytest.mark.parametrize("lanes", [1, 2])
def test_the_remembered_ids_are_the_latest_of_the_open_windows_up_to_the_cap(
    cap: int, lanes: int
) -> None:
    config = ScoringConfig(lanes=lanes, dedup_max_ids=cap)
    # 12 hours at 50 contacts an hour, all on lane 0.  One lane: the open windows hold the
    # last 30 to 90 minutes.  Two lanes: lane 1 never reports and holds them all open.
    busy = [contact(i, i * 60 / 50) for i in range(12 * 50)]
    state: EntityState | None = None
    longest = 0
    for fed, summary in enumerate(busy, start=1):
        state, out = score_alone(state, AGENT, "a1", summary, config)
        assert not out.duplicate
        assert len(state.seen) <= cap
        open_ids = [
            (s.occurred_at_us, s.summary_id)
            for s in busy[:fed]
            if s.occurred_at_us >= state.closed_through_us
        ]
        assert state.seen == sorted(open_ids)[-cap:]
        longest = max(longest, len(state.seen))
    assert state is not None
    assert (state.windows_closed > 0) == (lanes == 1)  # lane 1 never reports
    if cap < 50 or lanes == 2:
        assert longest == cap
    else:
        assert longest <= 90 * 50 / 60 + 1  # forgotten as their windows close


#: An agent's state as written before deduplication (no "seen"): a closed window and an
#: open one holding e3.
OLD_STATE = (
    b'{"entity_type":"agent","entity_id":"a1","lane_high":[1741005300000000],'
    b'"closed_through_us":1741003200000000,"windows":[{"start_us":1741003200000000,'
    b'"interactions":1,"failures":0,"dazzled":0,"promises":0,"sums":{"wait_ratio":'
    b'[1,500,250000],"wait_breach":[1,0,0],"handle":[1,3000,9000000],"hold":[1,0,0],'
    b'"transfers":[1,0,0],"csat":[1,3,9],"sentiment":[1,0,0],"failed":[1,0,0]},"counts":{},'
    b'"failure_evidence":[],"evidence":[[1741005300000000,"e3"]]}],"baseline":'
    b'{"wait_ratio":0.5,"handle":300.0,"hold":0.0,"transfers":0.0,"csat":3.0,'
    b'"sentiment":0.0},"windows_closed":1,"late":0,"consistency":null,"below":false,'
    b'"last_window_us":1740999600000000,"friction_raised":false,"cooldowns":{}}'
)


def test_a_state_written_before_deduplication_loads_and_goes_on_scoring() -> None:
    state = EntityState.from_bytes(OLD_STATE)
    assert state.seen == []
    assert state.windows[0].evidence == [(T0_US + 95 * US_PER_MINUTE, "e3")]
    retired = ("lane_high", "below", "friction_raised")
    kept = {k: v for k, v in orjson.loads(OLD_STATE).items() if k not in retired}
    kept["windows"] = [
        {
            **w,
            "sampled": w["interactions"],
            "failed_customers": [],
            "failure_services": {},
            "held": [],
        }
        for w in kept["windows"]
    ]
    new = {"seen": [], "pool": {}, "pool_contacts": 0, "pool_start_us": None, "firing": {}}
    assert orjson.loads(state.to_bytes()) == {**kept, **new, "incident": None}
    assert EntityState.from_bytes(state.to_bytes()) == state
    state, out = score_alone(state, AGENT, "a1", contact(4, 100), CONFIG)
    assert out == Emitted()
    assert state.seen == [(T0_US + 100 * US_PER_MINUTE, "e4/i4")]
    state, out = score_alone(state, AGENT, "a1", contact(4, 100), CONFIG)
    assert out == DUPLICATE
    assert state.windows[0].interactions == 2


def agent_day(
    rng: random.Random, *, per_hour: float, days: int, erratic_agent: bool
) -> list[InteractionSummary]:
    """One agent's contacts over ``days`` working days of 8 hours, ``per_hour`` of them an
    hour at random times.  A contact's quality (0 awful .. 1 great) is 0.5 on average for
    both kinds of agent: a steady agent stays near it, an erratic one swings to either end
    (seed 002), as in the simulator (``simulate/catalog.py``)."""
    contacts = []
    hours = days * 8
    for n in range(max(1, round(per_hour * hours))):
        day, in_day = divmod(rng.uniform(0, hours), 8)
        swing = (0.4 if rng.random() < 0.5 else -0.4) if erratic_agent else 0.0
        quality = min(1.0, max(0.0, rng.gauss(0.5 + swing, 0.05 if erratic_agent else 0.06)))
        summary = contact(
            n,
            (day * 24 + in_day) * 60,
            handle=round(360 * (1.5 - quality) * rng.lognormvariate(0, 0.1)),
            csat=min(5, max(1, round(1 + 4 * quality + rng.gauss(0, 0.4)))),
        )
        contacts.append(replace(summary, sentiment=round(2 * quality - 1, 2)))
    return sorted(contacts, key=lambda s: s.sort_key)


@pytest.mark.parametrize(
    ("per_hour", "days", "within_days"),
    [(3.0, 4, 2), (8.0, 2, 1), (6 / 8, 30, 15)],
    ids=["3 an hour: within 2 working days", "8 an hour: within 1 day", "6 a day: 3 weeks"],
)
@pytest.mark.parametrize("seed", range(1, 11))
def test_an_erratic_agent_is_flagged_at_any_volume(
    per_hour: float, days: int, within_days: int, seed: int
) -> None:
    """Flagged by the end of working day ``within_days`` (3 weeks: 15 working days); a
    steady agent at the same volume is scored and never flagged."""
    rng = random.Random(seed)
    start = datetime.fromtimestamp(T0_US / 1e6, UTC)
    _, emitted = feed(agent_day(rng, per_hour=per_hour, days=days, erratic_agent=True))
    drops = [a for out in emitted for a in out.alerts if a.kind == "consistency_drop"]
    assert drops, "the erratic agent was never flagged"
    # working day d covers hours [24 (d - 1), 24 (d - 1) + 8) after the start; a window
    # alert is timed at its window's end, at most an hour later
    assert drops[0].occurred_at <= start + timedelta(hours=24 * (within_days - 1) + 9)
    _, emitted = feed(agent_day(rng, per_hour=per_hour, days=days, erratic_agent=False))
    assert "consistency_drop" not in kinds(emitted)
    scored = [s for out in emitted for s in out.snapshots if "consistency" in s.scores]
    assert scored, "the steady agent was never scored"
    assert all(s.scores["consistency_contacts"] >= CONFIG.entity_min_samples for s in scored)
