from __future__ import annotations

from dataclasses import replace

import pytest

from cxpulse.schemas.events import Event
from cxpulse.schemas.outputs import Alert, EntityType
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.customer import score_customer_event
from cxpulse.scoring.customer_state import CustomerState
from cxpulse.scoring.entity import EntityState, summary_routes
from cxpulse.scoring.friction import friction
from cxpulse.scoring.summary import InteractionSummary
from tests.unit.scoring.make import Events, score_alone

CONFIG = replace(ScoringConfig(), lanes=1, allowed_lateness_minutes=0)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, (0.0, 0.0, 0.0, 0.0)),
        ({"applications": 10}, (0.0, 0.0, 0.0, 0.0)),
        ({"applications": 10, "frictional": 10}, (1.0, 0.0, 0.0, 50.0)),
        ({"applications": 10, "frictional": 5, "repeats": 5}, (0.5, 1.0, 0.0, 37.5)),
        (
            {"applications": 4, "frictional": 4, "repeats": 2, "dedazzled": 4},
            (1.0, 0.5, 1.0, 87.5),
        ),
        # a repeat landing in the window after its application: rates stay within 1
        ({"applications": 2, "frictional": 1, "repeats": 3}, (0.5, 1.0, 0.0, 37.5)),
    ],
)
def test_friction_rates_and_score(
    counts: dict[str, int], expected: tuple[float, float, float, float]
) -> None:
    result = friction(counts, ScoringConfig())
    assert (result.hit_rate, result.repeat_rate, result.dedazzle_rate) == expected[:3]
    assert result.score == pytest.approx(expected[3])


def score_all(events: list[Event]) -> tuple[CustomerState, list[InteractionSummary]]:
    state: CustomerState | None = None
    summaries: list[InteractionSummary] = []
    for event in events:
        state, emitted = score_customer_event(state, event, CONFIG)
        summaries.extend(emitted.summaries)
    assert state is not None
    return state, summaries


def rule_summaries(summaries: list[InteractionSummary]) -> list[tuple[str, str | None]]:
    return [
        (s.kind, s.effect) for s in summaries if summary_routes(s) == [(EntityType.RULE, "rule-x")]
    ]


def test_a_blocked_customer_who_comes_back_is_a_repeat_and_an_f_a_dedazzle() -> None:
    make = Events()
    route = {"interaction_id": "i1"}
    events = [
        make.make("interaction.started", 0, **route),
        make.make("policy.applied", 1, rule_id="rule-x", effect="blocked", **route),
        make.make("policy.applied", 1.5, rule_id="rule-x", effect="allowed", **route),
        make.make("interaction.ended", 2, outcome="abandoned", **route),
        make.make("interaction.started", 30, interaction_id="i2"),  # the repeat contact
        make.make("interaction.started", 40, interaction_id="i3"),  # counted once only
    ]
    state, summaries = score_all(events)
    assert rule_summaries(summaries) == [
        ("rule", "blocked"),
        ("rule", "allowed"),
        ("rule_dedazzle", None),
        ("rule_repeat", None),
    ]
    assert state.rule_hits == []
    assert CustomerState.from_bytes(state.to_bytes()) == state


def test_a_contact_after_the_repeat_window_is_no_repeat() -> None:
    make = Events()
    events = [
        make.make("policy.applied", 0, rule_id="rule-x", effect="redirected"),
        make.make("interaction.started", CONFIG.repeat_window_hours * 60 + 1, interaction_id="i9"),
    ]
    _, summaries = score_all(events)
    assert rule_summaries(summaries) == [("rule", "redirected")]


def rule_window(frictional: int, allowed: int, minute: int) -> list[InteractionSummary]:
    summaries: list[InteractionSummary] = []
    for i in range(frictional + allowed):
        effect = "blocked" if i < frictional else "allowed"
        make = Events(f"c{minute}-{i}", prefix=f"m{minute}-{i}-")
        event = make.make("policy.applied", minute + i * 0.1, rule_id="rule-x", effect=effect)
        summaries.extend(score_customer_event(None, event, CONFIG)[1].summaries)
    return summaries


def run_rule(summaries: list[InteractionSummary]) -> tuple[list[Alert], list[tuple[str, float]]]:
    state: EntityState | None = None
    alerts: list[Alert] = []
    frictions: list[tuple[str, float]] = []
    for summary in summaries:
        state, emitted = score_alone(state, EntityType.RULE, "rule-x", summary, CONFIG)
        alerts.extend(emitted.alerts)
        frictions.extend(emitted.rule_friction)
    return alerts, frictions


def test_rule_friction_alerts_once_with_a_minimum_sample() -> None:
    few = rule_window(frictional=9, allowed=0, minute=0)  # 9 < rule_min_samples
    many = rule_window(frictional=18, allowed=2, minute=60)
    again = rule_window(frictional=18, allowed=2, minute=120)
    closing = rule_window(frictional=0, allowed=1, minute=240)
    alerts, frictions = run_rule(few + many + again + closing)
    assert [(a.kind, a.entity_id) for a in alerts] == [("rule_friction", "rule-x")]
    (alert,) = alerts
    assert alert.scores["applications"] == 20
    assert alert.scores["friction"] == pytest.approx(45.0)
    assert "18 of 20 applications (90%)" in alert.reason
    assert len(alert.evidence) == CONFIG.evidence_max
    assert [rule for rule, _ in frictions] == ["rule-x", "rule-x"]
    assert [score for _, score in frictions] == [pytest.approx(45.0)] * 2


def test_a_low_friction_rule_does_not_alert() -> None:
    windows = [rule_window(frictional=2, allowed=18, minute=m) for m in (0, 60, 120, 180)]
    alerts, frictions = run_rule([s for w in windows for s in w])
    assert alerts == []
    assert [f for _, f in frictions] == [pytest.approx(5.0)] * 3
