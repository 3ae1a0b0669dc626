from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cxpulse.schemas.events import EVENT_TYPES, event_to_json, parse_event

ENVELOPE = {"event_id": "e-1", "occurred_at": "2026-05-01T10:00:00+02:00", "customer_id": "c-1"}
CONTACT = {**ENVELOPE, "interaction_id": "i-1"}

VALID: list[dict[str, Any]] = [
    {**CONTACT, "type": "interaction.started", "channel": "chat"},
    {**CONTACT, "type": "interaction.connected", "wait_seconds": 12.5, "agent_id": "a-1"},
    {**CONTACT, "type": "interaction.held", "hold_seconds": 30},
    {**CONTACT, "type": "interaction.transferred", "to_queue_id": "q-2"},
    {
        **CONTACT,
        "type": "interaction.ended",
        "outcome": "resolved",
        "handle_seconds": 300,
        "transfers": 1,
    },
    {**CONTACT, "type": "feedback.received", "csat": 4, "nps": 9, "effort": 2},
    {**CONTACT, "type": "feedback.received", "comment": "quick and kind"},
    {**CONTACT, "type": "sentiment.observed", "score": -0.4, "who": "customer"},
    {**ENVELOPE, "type": "service.promise_broken", "promise": "outage", "service_id": "fiber"},
    {**ENVELOPE, "type": "service.promise_kept", "promise": "late_delivery"},
    {**ENVELOPE, "type": "experience.dazzle", "kind": "goodwill"},
    {**ENVELOPE, "type": "policy.applied", "rule_id": "refund-needs-receipt", "effect": "blocked"},
    {**CONTACT, "type": "conversation.note", "text": "asked about the competitor's plan"},
]


def test_every_v1_type_has_a_valid_example() -> None:
    assert {e["type"] for e in VALID} == set(EVENT_TYPES)


@pytest.mark.parametrize("payload", VALID, ids=lambda p: str(p["type"]))
def test_valid_events_parse_and_round_trip(payload: dict[str, Any]) -> None:
    event = parse_event(orjson.dumps(payload))
    assert event.type == payload["type"]
    assert event.occurred_at == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert parse_event(event_to_json(event)) == event


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2026-05-01T10:00:00+02:00", datetime(2026, 5, 1, 8, 0, tzinfo=UTC)),
        ("2026-05-01T08:00:00Z", datetime(2026, 5, 1, 8, 0, tzinfo=UTC)),
        ("2026-04-30T23:30:00-08:30", datetime(2026, 5, 1, 8, 0, tzinfo=UTC)),
        ("2099-12-31T23:59:59.999999+00:00", datetime(2099, 12, 31, 23, 59, 59, 999999, UTC)),
    ],
)
def test_event_times_are_held_in_utc(written: str, utc: datetime) -> None:
    event = parse_event(
        orjson.dumps({**CONTACT, "type": "interaction.started", "occurred_at": written})
    )
    assert event.occurred_at == utc
    assert event.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    "written", ["1999-12-31T23:59:59Z", "2000-01-01T00:30:00+01:00", "2099-12-31T23:00:00-01:00"]
)
def test_an_implausible_time_is_refused_as_written(written: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(
            orjson.dumps({**CONTACT, "type": "interaction.started", "occurred_at": written})
        )
    assert f"occurred_at {datetime.fromisoformat(written).isoformat()} is outside" in str(
        caught.value
    )


INVALID: list[tuple[dict[str, Any], str]] = [
    ({**CONTACT, "type": "interaction.ended"}, "outcome"),
    ({**CONTACT, "type": "interaction.ended", "outcome": "maybe"}, "outcome"),
    (
        {**CONTACT, "type": "interaction.ended", "outcome": "resolved", "handle_seconds": -1},
        "handle_seconds",
    ),
    (
        {**CONTACT, "type": "interaction.ended", "outcome": "resolved", "handle_seconds": 1e12},
        "handle_seconds",
    ),
    ({**CONTACT, "type": "feedback.received", "csat": 6}, "csat"),
    ({**CONTACT, "type": "feedback.received"}, "at least one"),
    ({**CONTACT, "type": "sentiment.observed", "score": 1.5}, "score"),
    ({**ENVELOPE, "type": "interaction.started"}, "interaction_id"),
    (
        {**CONTACT, "type": "interaction.started", "occurred_at": "2026-05-01T10:00:00"},
        "occurred_at",
    ),
    (
        {**CONTACT, "type": "interaction.started", "occurred_at": "1970-01-01T00:00:00Z"},
        "occurred_at",
    ),
    ({**CONTACT, "type": "interaction.started", "customer_id": ""}, "customer_id"),
    ({**CONTACT, "type": "interaction.started", "channel": "pigeon"}, "channel"),
    ({**ENVELOPE, "type": "policy.applied", "rule_id": "r", "effect": "ignored"}, "effect"),
]


@pytest.mark.parametrize(("payload", "field"), INVALID)
def test_invalid_events_name_the_problem(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(orjson.dumps(payload))
    assert field in str(caught.value)


def test_unknown_fields_are_ignored() -> None:
    event = parse_event(orjson.dumps({**VALID[0], "vendor_extra": {"x": 1}}))
    assert "vendor_extra" not in event.model_dump()


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=20) | st.integers(), max_size=8))
def test_arbitrary_objects_either_parse_or_raise_validation_error(obj: dict[str, Any]) -> None:
    with contextlib.suppress(ValidationError):
        parse_event(json.dumps(obj))
