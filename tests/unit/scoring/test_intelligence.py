from __future__ import annotations

import itertools
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.schemas.outputs import Alert, EntityType
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.customer import score_customer_event
from cxpulse.scoring.customer_state import CustomerState
from cxpulse.scoring.entity import EntityState, summary_routes
from cxpulse.scoring.intelligence import CHURN_ENTITY, judge_mentions, redacted
from cxpulse.scoring.lexicon import (
    LexiconError,
    find_mentions,
    load_lexicon,
    parse_lexicon,
    variants,
)
from cxpulse.scoring.summary import MENTION, InteractionSummary
from tests.unit.scoring.make import Events, score_alone

REPO = Path(__file__).resolve().parents[3]
LEXICON = parse_lexicon(
    {
        "competitors": {
            "Nordnet": {"names": ["Nordnet", "Nord Net"], "products": {"FiberMax": ["fiber max"]}},
            "Telvia": {},
        },
        "channels": {"online": ["online", "web shop"]},
        "reasons": {"price": ["cheaper", "price"]},
        "cues": {"new baby": ["had a baby"], "prefers email": ["prefer email"]},
        "churn_intent": {"cancel": ["cancel my contract"], "switch": ["switch to"]},
    }
)
CONFIG = replace(ScoringConfig(), lexicon=LEXICON, snippet_words=3)


def found(text: str) -> list[tuple[str, str]]:
    return [(m.term.kind, m.term.label) for m in find_mentions(text, LEXICON)[1]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Customer talked about NORDNET", [("competitor", "Nordnet")]),
        ("nordnet's offer", [("competitor", "Nordnet")]),
        ("two Nordnets in town", [("competitor", "Nordnet")]),
        ("she cancelled my contract yesterday", [("churn_intent", "cancel")]),
        ("He is switching to Telvia", [("churn_intent", "switch"), ("competitor", "Telvia")]),
        ("they prefers emails", [("cue", "prefers email")]),
        ("bought in the web  shops", [("channel", "online")]),
        ("prices went up", [("reason", "price")]),
        # whole words only: no hit inside other words
        ("Nordnetwork and Telviaphone", []),
        ("the pricey one", []),
        ("switched from Telvia", [("competitor", "Telvia")]),
        # the longest of overlapping terms wins: "nord net" over nothing, "fiber max" product
        (
            "Nord Net Fiber Max plan",
            [("competitor", "Nordnet"), ("competitor_product", "FiberMax")],
        ),
        ("", []),
    ],
)
def test_mentions_match_whole_words_whatever_the_case_and_inflection(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert found(text) == expected


def test_the_longest_overlapping_term_wins() -> None:
    lexicon = parse_lexicon(
        {"competitors": {"Nord": {}, "Nordnet": {"names": ["nord net"]}}, "reasons": {}}
    )
    _, mentions = find_mentions("the Nord Net offer", lexicon)
    assert [(m.term.label, m.first, m.last) for m in mentions] == [("Nordnet", 1, 3)]


@pytest.mark.parametrize(
    ("word", "base"),
    [("cancelled", "cancel"), ("moving", "move"), ("switches", "switch"), ("telvia's", "telvia")],
)
def test_suffix_rules_give_the_base_form(word: str, base: str) -> None:
    assert base in variants(word)


@given(st.text(max_size=400))
def test_matching_never_fails_on_any_text(text: str) -> None:
    words, mentions = find_mentions(text, LEXICON)
    for mention in mentions:
        assert 0 <= mention.first < mention.last <= len(words)
    spans = [(m.first, m.last) for m in mentions]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"colours": {}}, "unknown table"),
        ({"cues": {"x": "not a list"}}, "non-empty list"),
        ({"cues": {"x": ["  "]}}, "has no words"),
        ({"cues": {"x": ["same"]}, "reasons": {"y": ["Same"]}}, "listed for both"),
        ({"competitors": {"A": {"brands": []}}}, "unknown key"),
    ],
)
def test_a_bad_lexicon_is_an_error_naming_the_entry(data: dict[str, object], problem: str) -> None:
    with pytest.raises(LexiconError, match=problem):
        parse_lexicon(data)


def test_the_shipped_lexicon_loads_and_a_missing_one_is_a_clear_error(tmp_path: Path) -> None:
    lexicon = load_lexicon("builtin")
    assert {"Nordnet", "Telvia"} <= lexicon.competitors
    assert load_lexicon("").terms == ()
    with pytest.raises(LexiconError, match="cannot read lexicon"):
        load_lexicon(tmp_path / "nope.toml")


def test_a_note_gives_one_insight_per_mention_with_a_snippet_and_ids() -> None:
    make = Events("c9")
    events = [
        make.make("interaction.started", 0, interaction_id="i1"),
        make.make("sentiment.observed", 1, interaction_id="i1", score=-0.5, who="customer"),
        make.make(
            "conversation.note",
            2,
            interaction_id="i1",
            text="We just had a baby, and Telvia is cheaper so I may switch to them soon.",
        ),
    ]
    state = None
    for event in events:
        state, emitted = score_customer_event(state, event, CONFIG)
    insights = emitted.insights
    assert [(i.kind, i.term) for i in insights] == [
        ("cue", "new baby"),
        ("competitor", "Telvia"),
        ("reason", "price"),
        ("churn_intent", "switch"),
    ]
    assert insights[1].snippet == "\u2026 a baby, and Telvia is cheaper so \u2026"
    assert all(i.sentiment == -0.5 and i.interaction_id == "i1" for i in insights)
    assert len({i.insight_id for i in insights}) == 4
    routes = [route for s in emitted.summaries for route in summary_routes(s)]
    assert routes == [(EntityType.COMPETITOR, "Telvia"), (EntityType.COMPETITOR, CHURN_ENTITY)]
    assert emitted.snapshots[0].labels["cues"] == "new baby"
    # the same event scored again (a replay) gives the same ids
    again = None
    for event in events:
        again, repeated = score_customer_event(again, event, CONFIG)
    assert [i.insight_id for i in repeated.insights] == [i.insight_id for i in insights]


def test_cues_are_remembered_latest_first_and_bounded() -> None:
    config = replace(CONFIG, max_cues=2)
    make = Events()
    state: CustomerState | None = None
    for at, text in enumerate(["I prefer email", "we had a baby", "I prefer email again"]):
        event = make.make("conversation.note", at, interaction_id=f"i{at}", text=text)
        state, emitted = score_customer_event(state, event, config)
    assert state is not None
    assert state.cues == ["prefers email", "new baby"]
    assert CustomerState.from_bytes(state.to_bytes()).cues == state.cues
    assert emitted.snapshots[0].labels["cues"] == "prefers email; new baby"


def test_feedback_comments_are_read_too() -> None:
    make = Events()
    state, _ = score_customer_event(
        None, make.make("interaction.started", 0, interaction_id="i"), CONFIG
    )
    comment = make.make("feedback.received", 1, interaction_id="i", csat=2, comment="Nordnet!")
    _, emitted = score_customer_event(state, comment, CONFIG)
    assert [(i.kind, i.term, i.event_id) for i in emitted.insights] == [
        ("competitor", "Nordnet", comment.event_id)
    ]


def test_redaction_applies_to_snippet_and_customer() -> None:
    make = Events("c1")
    note = make.make("conversation.note", 0, interaction_id="i", text="Nordnet called 555")
    _, emitted = score_customer_event(None, note, CONFIG)
    out = redacted(emitted.insights[0], lambda t: t.replace("555", "[x]"), lambda c: f"p-{c}")
    assert (out.snippet, out.customer_id) == ("Nordnet called [x]", "p-c1")


# --- spikes ---------------------------------------------------------------------------------


def judge_series(counts: list[int], config: ScoringConfig = CONFIG) -> list[bool]:
    baseline: dict[str, float] = {}
    return [judge_mentions(baseline, count, 0, config).spike for count in counts]


@pytest.mark.parametrize(
    ("counts", "spikes"),
    [
        ([30, 3, 3, 3], [False, False, False, False]),  # no baseline history yet at first
        ([3, 3, 3, 30], [False, False, False, True]),
        ([3, 3, 3, 7], [False, False, False, False]),  # > 3 x baseline but under the minimum
        ([10, 10, 10, 25], [False, False, False, False]),  # over the minimum, not 3 x baseline
        ([3, 3, 3, 30, 30], [False, False, False, True, False]),  # the baseline learns
    ],
)
def test_a_spike_needs_history_the_minimum_and_the_factor(
    counts: list[int], spikes: list[bool]
) -> None:
    assert judge_series(counts) == spikes


def test_empty_windows_lower_the_baseline() -> None:
    quiet: dict[str, float] = {}
    busy: dict[str, float] = {}
    for _ in range(3):
        judge_mentions(quiet, 6, 0, CONFIG)
        judge_mentions(busy, 6, 0, CONFIG)
    after_gap = judge_mentions(quiet, 16, 4, CONFIG)
    no_gap = judge_mentions(busy, 16, 0, CONFIG)
    assert after_gap.expected < no_gap.expected
    assert (after_gap.history, after_gap.spike, no_gap.spike) == (7, True, False)


def mention(index: int, minute: int, competitor: str) -> InteractionSummary:
    return InteractionSummary(
        summary_id=f"m{index}",
        kind=MENTION,
        event_id=f"e{index}",
        customer_id=f"c{index % 7}",
        occurred_at_us=minute * 60_000_000,
        term=competitor,
        evidence=(f"e{index}",),
    )


def test_a_competitor_spike_alerts_with_numbers_and_evidence_in_any_order() -> None:
    config = replace(CONFIG, lanes=1, allowed_lateness_minutes=0)
    summaries = []
    for hour in range(6):
        per_hour = 40 if hour == 4 else 4
        summaries += [
            mention(hour * 100 + i, hour * 60 + i * 50 // per_hour, "Telvia")
            for i in range(per_hour)
        ]
    results = []
    for seed in (1, 2):
        shuffled = list(summaries)
        random.Random(seed).shuffle(shuffled)  # within a window: all windows fill alike
        shuffled.sort(key=lambda s: s.occurred_at_us // config.entity_window_us)
        state: EntityState | None = None
        alerts: list[Alert] = []
        for summary in shuffled:
            state, emitted = score_alone(state, EntityType.COMPETITOR, "Telvia", summary, config)
            alerts.extend(emitted.alerts)
        results.append(alerts)
    assert results[0] == results[1]
    (alert,) = results[0]
    assert (alert.kind, alert.entity_type, alert.entity_id) == (
        "competitor_spike",
        EntityType.COMPETITOR,
        "Telvia",
    )
    assert alert.scores["mentions"] == 40
    assert alert.scores["baseline"] == pytest.approx(4.0)
    assert "40 mentions of competitor Telvia" in alert.reason
    assert len(alert.evidence) == config.evidence_max
