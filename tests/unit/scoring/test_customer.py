from __future__ import annotations

import copy
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxpulse.schemas.events import Event
from cxpulse.schemas.outputs import Alert
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.customer import CustomerState, score_customer_event
from cxpulse.scoring.emitted import Emitted

from .make import T0, Events

CONFIG = ScoringConfig()


def run(
    events: Iterable[Event], config: ScoringConfig = CONFIG, state: CustomerState | None = None
) -> tuple[CustomerState | None, list[Emitted]]:
    emitted = []
    for event in events:
        state, out = score_customer_event(state, event, config)
        emitted.append(out)
    return state, emitted


def alerts(emitted: list[Emitted], kind: str | None = None) -> list[Alert]:
    found = [alert for out in emitted for alert in out.alerts]
    return [a for a in found if kind is None or a.kind == kind]


def test_a_dazzled_customer_hit_by_a_broken_promise_is_in_jeopardy_exactly_once() -> None:
    make = Events()
    dazzle = make.make("experience.dazzle", 0, kind="goodwill")
    broken = make.make("service.promise_broken", 60, promise="billing_error")
    again = make.make("service.promise_broken", 200, promise="late_delivery")
    state, emitted = run([dazzle, broken, again])
    assert state is not None
    jeopardy = alerts(emitted, "jeopardy")
    assert len(jeopardy) == 1
    assert jeopardy[0].evidence[0] == broken.event_id
    assert dazzle.event_id in jeopardy[0].evidence
    assert jeopardy[0].severity.value == "critical"
    assert state.loyalty == "jeopardy"
    assert emitted[1].loyalty_transitions == (("dazzled", "jeopardy"),)
    # The first broken promise is told by the jeopardy alert, the second one on its own.
    failures = alerts(emitted, "core_service_failure")
    assert [a.evidence for a in failures] == [[again.event_id]]
    assert [a.kind for a in alerts(emitted)] == [
        "dazzle_moment",
        "jeopardy",
        "core_service_failure",
    ]


def test_repeated_de_dazzles_lose_the_customer() -> None:
    make = Events()
    events = [make.make("service.promise_broken", 10 * i) for i in range(3)]
    state, emitted = run(events)
    assert state is not None
    assert state.loyalty == "lost"
    assert len(alerts(emitted, "lost")) == 1


def test_a_duplicate_has_no_effect() -> None:
    make = Events()
    events = [*make.contact("i1", 0), make.make("experience.dazzle", 5, kind="goodwill")]
    state, _ = run(events)
    assert state is not None
    before = state.to_bytes()
    for event in events:
        state, out = score_customer_event(state, event, CONFIG)
        assert out == Emitted(duplicate=True)
    assert state.to_bytes() == before


def test_dedup_forgets_beyond_its_max_count() -> None:
    make = Events()
    first = make.make("experience.dazzle", 0)
    config = ScoringConfig(dedup_max_ids=2)
    state, _ = run(
        [first, make.make("experience.dazzle", 1), make.make("experience.dazzle", 2)], config
    )
    _, out = score_customer_event(state, first, config)
    assert not out.duplicate


def test_dedup_forgets_beyond_its_window() -> None:
    make = Events()
    first = make.make("experience.dazzle", 0)
    later = make.make("experience.dazzle", CONFIG.dedup_window_hours * 60 + 1)
    state, _ = run([first, later])
    _, out = score_customer_event(state, first, CONFIG)
    assert not out.duplicate


def test_a_finished_contact_yields_one_summary_with_its_grade() -> None:
    make = Events()
    events = make.contact("i1", 0, wait=45, handle=250)
    state, emitted = run(events)
    assert state is not None
    (summary,) = emitted[-1].summaries
    assert (summary.kind, summary.interaction_id, summary.outcome) == (
        "interaction",
        "i1",
        "resolved",
    )
    assert (summary.wait_seconds, summary.handle_seconds, summary.grade) == (45, 250, "OK")
    assert (summary.agent_id, summary.queue_id, summary.channel) == ("a1", "q1", "voice")
    assert emitted[-1].grades == ("OK",)
    assert summary.evidence[-1] == summary.event_id == events[-1].event_id
    assert not state.open


def test_ended_before_started_finishes_and_the_late_start_is_ignored() -> None:
    make = Events()
    ended = make.make("interaction.ended", 5, interaction_id="i1", outcome="resolved")
    started = make.make("interaction.started", 0, interaction_id="i1")
    state, emitted = run([ended, started])
    assert state is not None
    assert len(emitted[0].summaries) == 1
    assert emitted[1].late_events == 1
    assert not emitted[1].summaries
    assert not state.open


def test_feedback_within_grace_follows_up_and_may_upgrade_to_a() -> None:
    make = Events()
    contact = make.contact("i1", 0)
    feedback = make.make("feedback.received", 60, interaction_id="i1", csat=5)
    state, emitted = run([*contact, feedback])
    assert state is not None
    (followup,) = emitted[-1].summaries
    assert (followup.kind, followup.csat, followup.grade) == ("followup", 5, "A")
    assert (followup.agent_id, followup.queue_id) == ("a1", "q1")
    assert emitted[-1].snapshots[0].labels["grade"] == "A"
    assert emitted[-1].dazzle_balance == pytest.approx(CONFIG.delight_weight, rel=1e-3)


def test_feedback_after_grace_is_late_and_ignored() -> None:
    make = Events()
    contact = make.contact("i1", 0)
    feedback = make.make(
        "feedback.received", CONFIG.feedback_grace_hours * 60 + 10, interaction_id="i1", csat=1
    )
    _, emitted = run([*contact, feedback])
    assert emitted[-1] == Emitted(late_events=1)


def test_feedback_during_the_contact_is_folded_into_its_summary() -> None:
    make = Events()
    started, connected, ended = make.contact("i1", 0)
    feedback = make.make("feedback.received", 1, interaction_id="i1", csat=2, effort=6)
    _, emitted = run([started, connected, feedback, ended])
    (summary,) = emitted[-1].summaries
    assert (summary.csat, summary.effort, summary.grade) == (2, 6, "OK")
    assert emitted[2].dazzle_balance == pytest.approx(-CONFIG.dismay_weight)


@pytest.mark.parametrize(
    ("connected", "outcome", "grade"), [(False, "abandoned", "F"), (True, "unknown", "OK")]
)
def test_a_contact_that_never_ends_is_closed_by_the_next_event_after_the_timeout(
    connected: bool, outcome: str, grade: str
) -> None:
    make = Events()
    events = [make.make("interaction.started", 0, interaction_id="i1", queue_id="q1")]
    if connected:
        events.append(make.make("interaction.connected", 1, interaction_id="i1", wait_seconds=20))
    events.append(make.make("interaction.started", 60, interaction_id="i2"))
    events.append(
        make.make(
            "interaction.started", CONFIG.interaction_timeout_hours * 60 + 1, interaction_id="i3"
        )
    )
    state, emitted = run(events)
    assert state is not None
    assert not any(out.summaries for out in emitted[:-1])
    (summary,) = emitted[-1].summaries
    assert (summary.interaction_id, summary.outcome, summary.grade) == ("i1", outcome, grade)
    assert summary.event_id == events[-1].event_id
    assert summary.occurred_at_us > summary.started_at_us  # type: ignore[operator]
    assert set(state.open) == {"i2", "i3"}


def test_a_repeat_of_an_unresolved_contact_that_fails_again_is_a_core_service_failure() -> None:
    make = Events()
    first = make.contact("i1", 0, outcome="unresolved")
    second = make.contact("i2", 60, outcome="unresolved")
    _, emitted = run([*first, *second])
    (summary,) = emitted[-1].summaries
    assert summary.repeat
    assert (summary.grade, summary.grade_reason) == ("F", "failed_repeat")
    assert first[-1].event_id in summary.evidence
    (alert,) = alerts(emitted, "core_service_failure")
    assert alert.evidence == list(summary.evidence)


def test_a_contact_after_the_repeat_window_is_not_a_repeat() -> None:
    make = Events()
    first = make.contact("i1", 0, outcome="unresolved")
    second = make.contact("i2", CONFIG.repeat_window_hours * 60 + 5, outcome="unresolved")
    _, emitted = run([*first, *second])
    assert not emitted[-1].summaries[0].repeat


def test_cooldown_holds_back_a_second_alert_of_the_same_kind() -> None:
    make = Events()
    events = [*make.contact("i0", 0, outcome="unresolved")]
    for i, at in enumerate((10, 30, 75), start=1):
        events += make.contact(f"i{i}", at, outcome="unresolved")
    _, emitted = run(events)
    failures = alerts(emitted, "core_service_failure")
    # The third F of a contact on a queue is handed to the queue, which publishes it unless
    # its incident folds it (test_entity.py).
    assert alerts(emitted, "repeat_failure") == []
    repeats = [
        Alert.model_validate_json(s.held_alert)
        for out in emitted
        for s in out.summaries
        if s.kind == "held" and s.held_alert is not None
    ]
    # Failed repeats end at minutes 12, 32 and 77: the one at 32 is within the cooldown;
    # the one at 77 is the third F within the report-card window: a repeat_failure.
    assert [(a.occurred_at - T0).total_seconds() / 60 for a in failures] == [12]
    assert [(a.occurred_at - T0).total_seconds() / 60 for a in repeats] == [77]
    assert [a.kind for a in repeats] == ["repeat_failure"]
    assert (failures[0].severity, repeats[0].severity) == ("info", "warning")


def test_no_consistency_score_or_alert_before_the_minimum_sample() -> None:
    make = Events()
    events = []
    for i in range(6):
        events += make.contact(
            f"i{i}", 10 * i, wait=5 if i % 2 else 600, handle=30 if i % 2 else 3000
        )
    config = ScoringConfig(customer_min_samples=7)
    state, emitted = run(events, config)
    assert state is not None
    assert state.consistency is None
    assert not any(out.consistency for out in emitted)
    _, emitted = run(events, ScoringConfig(customer_min_samples=6))
    assert emitted[-1].consistency


def test_a_customer_whose_experience_turns_chaotic_gets_one_consistency_drop() -> None:
    make = Events()
    events = []
    for i in range(8):
        events += make.contact(f"s{i}", 10 * i, wait=20, handle=300)
    for i in range(8):
        wait, handle = (5, 60) if i % 2 else (900, 2400)
        events += make.contact(f"x{i}", 100 + 10 * i, wait=wait, handle=handle)
    _, emitted = run(events)
    scores = [score for out in emitted for _, _, score in out.consistency]
    assert scores[0] > CONFIG.consistency_alert_threshold > scores[-1]
    (drop,) = alerts(emitted, "unpredictable_experience")
    assert drop.scores["consistency"] < drop.thresholds["consistency"]


def test_snapshots_only_for_events_that_change_scores() -> None:
    make = Events()
    started, connected, ended = make.contact("i1", 0)
    note = make.make("conversation.note", 1, interaction_id="i1", text="asked about fibre")
    _, emitted = run([started, connected, note, ended])
    assert [len(out.snapshots) for out in emitted] == [0, 0, 0, 1]
    snapshot = emitted[-1].snapshots[0]
    assert (snapshot.entity_id, snapshot.event_id) == ("c1", ended.event_id)
    assert snapshot.labels == {"grade": "OK", "loyalty": "neutral"}


def _scenario(draws: list[tuple[int, int, int]]) -> list[Event]:
    """A random but valid mix of contacts, promises, dazzles, feedback and policies."""
    make = Events()
    events: list[Event] = []
    at = 0.0
    for kind, gap, value in draws:
        at += gap
        interaction = f"i{value % 4}"
        if kind == 0:
            outcome = ("resolved", "unresolved", "abandoned", "escalated")[value % 4]
            events += make.contact(
                f"i{len(events)}", at, outcome, wait=value * 7.0, handle=value * 31.0
            )
        elif kind == 1:
            events.append(make.make("service.promise_broken", at, service_id="s1"))
        elif kind == 2:
            events.append(make.make("experience.dazzle", at, kind="goodwill"))
        elif kind == 3:
            events.append(
                make.make("feedback.received", at, interaction_id=interaction, csat=1 + value % 5)
            )
        elif kind == 4:
            events.append(make.make("policy.applied", at, rule_id="r1", effect="blocked"))
        else:
            events.append(make.make("interaction.started", at, interaction_id=f"open{value}"))
    return events


scenarios = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5),
        st.integers(min_value=0, max_value=2000),
        st.integers(min_value=0, max_value=40),
    ),
    max_size=25,
).map(_scenario)


@settings(max_examples=40, deadline=None)
@given(scenarios)
def test_state_round_trips_through_bytes_after_every_event(events: list[Event]) -> None:
    state: CustomerState | None = None
    for event in events:
        state, _ = score_customer_event(state, event, CONFIG)
        restored = CustomerState.from_bytes(state.to_bytes())
        assert restored == state
        assert restored.to_bytes() == state.to_bytes()


@settings(max_examples=40, deadline=None)
@given(scenarios)
def test_same_input_same_output_and_restarts_change_nothing(events: list[Event]) -> None:
    _, straight = run(events)
    _, again = run(events)
    assert straight == again
    # A worker that reloads the state from its changelog after every event.
    state: CustomerState | None = None
    restarted = []
    for event in events:
        loaded = None if state is None else CustomerState.from_bytes(state.to_bytes())
        state, out = score_customer_event(loaded, event, CONFIG)
        restarted.append(out)
    assert restarted == straight


@settings(max_examples=40, deadline=None)
@given(scenarios, st.data())
def test_redelivered_events_change_nothing(events: list[Event], data: st.DataObject) -> None:
    with_duplicates: list[Event] = []
    for event in events:
        with_duplicates.append(event)
        if data.draw(st.booleans()):
            with_duplicates.append(copy.copy(event))
    _, straight = run(events)
    _, redelivered = run(with_duplicates)
    assert [out for out in redelivered if not out.duplicate] == straight
    assert sum(out.duplicate for out in redelivered) == len(with_duplicates) - len(events)


def repeat_alerts(emitted: list[Emitted]) -> list[tuple[str, float]]:
    """Repeat failures, published or held for the queue, as (how, minute)."""
    found = [("alert", a) for a in alerts(emitted, "repeat_failure")]
    found += [
        ("held", Alert.model_validate_json(s.held_alert))
        for out in emitted
        for s in out.summaries
        if s.kind == "held" and s.held_alert is not None
    ]
    return [(how, (a.occurred_at - T0).total_seconds() / 60) for how, a in found]


DAYS_APART = (0.0, 73 * 60.0, 146 * 60.0, 219 * 60.0)  # beyond the 72 h repeat window
MINUTES_APART = (0.0, 10.0, 30.0, 75.0)


@pytest.mark.parametrize(
    ("times", "outcomes", "queue_id", "expected"),
    [
        # the first unresolved contact is no F; its three failed repeats are
        (MINUTES_APART, ["unresolved"] * 4, "q1", [("held", 77.0)]),
        (MINUTES_APART, ["unresolved"] * 4, None, [("alert", 77.0)]),
        (MINUTES_APART, ["unresolved", "unresolved", "resolved", "unresolved"], "q1", []),
        # abandoned calls, days apart: F each, but the queue's service level answers
        (DAYS_APART, ["abandoned"] * 4, "q1", []),
    ],
)
def test_a_repeat_failure_counts_the_customers_own_failures(
    times: tuple[float, ...],
    outcomes: list[str],
    queue_id: str | None,
    expected: list[tuple[str, float]],
) -> None:
    make = Events()
    events: list[Event] = []
    for i, (at, outcome) in enumerate(zip(times, outcomes, strict=True)):
        events += make.contact(f"i{i}", at, outcome=outcome)
    if queue_id is None:
        events = [e.model_copy(update={"queue_id": None}) for e in events]
    _, emitted = run(events)
    assert "F" in [grade for out in emitted for grade in out.grades]
    assert repeat_alerts(emitted) == expected


def test_an_anonymous_contact_feeds_its_agent_and_queue_but_publishes_nothing_customer() -> None:
    """The same events under a customer id and under a contact's anonymous key: the same
    interaction summaries reach the agent and queue; only the identified customer gets
    customer alerts, snapshots, loyalty changes and a dazzle balance."""

    def scenario(customer_id: str) -> list[Emitted]:
        make = Events(customer_id)
        events = [
            make.make("experience.dazzle", 0, kind="goodwill"),
            *make.contact("i1", 1, "abandoned"),
            make.make("service.promise_broken", 60, promise="billing_error"),
            make.make("service.promise_broken", 200, promise="late_delivery"),
        ]
        return run(events)[1]

    identified = scenario("c1")
    anonymous = scenario("anon:amazon-connect:i1")

    def customer_side(emitted: list[Emitted]) -> list[object]:
        return [
            *(alert for out in emitted for alert in out.alerts),
            *(shot for out in emitted for shot in out.snapshots),
            *(change for out in emitted for change in out.loyalty_transitions),
            *(out.dazzle_balance for out in emitted if out.dazzle_balance is not None),
        ]

    def summaries(emitted: list[Emitted]) -> list[object]:
        return [
            (s.kind, s.event_id, s.grade, s.agent_id, s.queue_id, s.outcome)
            for out in emitted
            for s in out.summaries
        ]

    assert customer_side(identified)
    assert customer_side(anonymous) == []
    assert summaries(anonymous) == summaries(identified)
    assert [s.kind for out in anonymous for s in out.summaries]
    assert [out.grades for out in anonymous] == [out.grades for out in identified]
