from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cxpulse.adapters.attributes import outcome_from, survey_from
from cxpulse.adapters.base import (
    AdapterError,
    Contact,
    Fields,
    decode_json,
    event_id,
    from_epoch,
    last_segment,
    note_text,
    validated,
)
from cxpulse.adapters.connect_common import outcome_of
from cxpulse.schemas.events import InteractionEnded, Outcome

WHEN = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)


def test_event_ids_depend_only_on_their_parts() -> None:
    assert event_id("zendesk", "1", "interaction.ended") == event_id(
        "zendesk", "1", "interaction.ended"
    )
    assert event_id("zendesk", "1", "interaction.ended").startswith("zendesk:")
    assert (
        len(
            {
                event_id("zendesk", "1", "interaction.ended"),
                event_id("zendesk", "2", "interaction.ended"),
                event_id("twilio", "1", "interaction.ended"),
                event_id("zendesk", "1", "interaction.started"),
                event_id("zendesk", "1i", "nteraction.started"),
            }
        )
        == 5
    )


@pytest.mark.parametrize("payload", [b"", b"nope", b"[" * 5000, b'{"a": NaN}', b"\xff"])
def test_undecodable_bytes_are_invalid_json(payload: bytes) -> None:
    with pytest.raises(AdapterError) as caught:
        decode_json(payload)

    assert caught.value.reason == "invalid_json"


def test_an_adapter_error_keeps_its_reason_and_message() -> None:
    error = AdapterError("unmappable", "no customer")

    assert (error.reason, error.message, str(error)) == (
        "unmappable",
        "no customer",
        "unmappable: no customer",
    )


def test_fields_read_keys_case_insensitively_and_name_paths() -> None:
    fields = Fields({"AgentInfo": {"AgentArn": "arn:x/agent/7"}}, "detail")

    agent = fields.child("agentInfo")

    assert agent is not None
    assert agent.text("agentArn") == "arn:x/agent/7"
    assert agent.where("agentArn") == "detail.agentInfo.agentArn"


@pytest.mark.parametrize(
    ("value", "text"), [("  abc ", "abc"), ("", None), (None, None), (35436, "35436")]
)
def test_text_accepts_strings_and_integer_ids(value: Any, text: str | None) -> None:
    assert Fields({"k": value}, "").text("k") == text


@pytest.mark.parametrize("value", [True, 1.5, [], {}])
def test_text_rejects_other_types(value: Any) -> None:
    with pytest.raises(AdapterError) as caught:
        Fields({"k": value}, "p").text("k")

    assert (caught.value.reason, "p.k" in caught.value.message) == ("invalid_shape", True)


@pytest.mark.parametrize(("value", "number"), [(3, 3.0), ("42", 42.0), ("", None), (2.5, 2.5)])
def test_numbers_accept_numeric_strings(value: Any, number: float | None) -> None:
    assert Fields({"k": value}, "").number("k") == number


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("inf", "invalid_value"),
        ("x", "invalid_value"),
        (False, "invalid_shape"),
        ({}, "invalid_shape"),
    ],
)
def test_numbers_reject_the_rest(value: Any, reason: str) -> None:
    with pytest.raises(AdapterError) as caught:
        Fields({"k": value}, "").number("k")

    assert caught.value.reason == reason


def test_times_need_an_offset() -> None:
    fields = Fields({"a": "2024-05-14T09:00:00Z", "b": "2024-05-14T09:00:00"}, "")

    assert fields.iso_time("a") == WHEN
    with pytest.raises(AdapterError, match="offset"):
        fields.iso_time("b")


def test_impossible_epoch_times_are_invalid_values() -> None:
    with pytest.raises(AdapterError) as caught:
        from_epoch(1e30, 1000, "eventTime")

    assert caught.value.reason == "invalid_value"


def test_last_segment_of_an_arn() -> None:
    assert last_segment("arn:aws:connect:us-east-1:1:instance/i/queue/q-9") == "q-9"


def test_notes_are_trimmed_and_cut_to_the_contract_limit() -> None:
    assert note_text("  hi  ") == "hi"
    assert note_text(" ") is None
    assert len(note_text("x" * 30_000) or "") == 20_000


def test_validated_events_name_the_field_that_broke_the_contract() -> None:
    contact = Contact(source="zendesk", interaction_id="1", customer_id="c")
    bad = contact.event("interaction.ended", WHEN, outcome="sold")

    with pytest.raises(AdapterError) as caught:
        validated([bad])

    assert caught.value.reason == "invalid_value"
    assert "outcome" in caught.value.message


def test_contact_events_carry_the_envelope() -> None:
    contact = Contact(source="zendesk", interaction_id="1", customer_id="c", queue_id="q")

    (ended,) = validated([contact.event("interaction.ended", WHEN, outcome=Outcome.RESOLVED)])

    assert isinstance(ended, InteractionEnded)
    assert (ended.interaction_id, ended.customer_id, ended.queue_id, ended.source) == (
        "1",
        "c",
        "q",
        "zendesk",
    )
    assert ended.event_id == event_id("zendesk", "1", "interaction.ended")


@pytest.mark.parametrize(
    ("attributes", "survey"),
    [
        ({"csat": "4", "NPS": "10", "intent": "billing"}, {"csat": 4, "nps": 10}),
        ({"CES": "2", "Survey-Comment": " slow "}, {"effort": 2, "comment": "slow"}),
        ({"effort": 3, "ces": "7"}, {"effort": 3}),
        ({"csat": ""}, {}),
        ({}, {}),
    ],
)
def test_survey_attributes(attributes: dict[str, Any], survey: dict[str, Any]) -> None:
    assert survey_from(Fields(attributes, "Attributes")) == survey


def test_a_fractional_survey_score_is_an_invalid_value() -> None:
    with pytest.raises(AdapterError, match=r"Attributes\.csat"):
        survey_from(Fields({"csat": "4.5"}, "Attributes"))


@pytest.mark.parametrize(
    ("attributes", "outcome"),
    [
        ({"cxpulse_outcome": "Escalated"}, Outcome.ESCALATED),
        ({"CxPulse-Outcome": "abandoned"}, Outcome.ABANDONED),
        ({"outcome": "sale"}, None),
        ({}, None),
    ],
)
def test_a_stated_outcome(attributes: dict[str, Any], outcome: Outcome | None) -> None:
    assert outcome_from(Fields(attributes, "Attributes")) == outcome


def rules(
    agent: bool, queued: bool, reason: str, transferred: bool = False, stated: Outcome | None = None
) -> dict[str, object]:
    return {
        "agent_connected": agent,
        "queued": queued,
        "disconnect_reason": reason,
        "transferred": transferred,
        "stated": stated,
    }


@pytest.mark.parametrize(
    ("facts", "outcome"),
    [
        (rules(True, True, "CUSTOMER_DISCONNECT"), Outcome.RESOLVED),
        (rules(True, True, "AGENT_DISCONNECT", transferred=True), Outcome.ESCALATED),
        (rules(True, True, "TELECOM_PROBLEM"), Outcome.UNRESOLVED),
        (rules(False, True, "CUSTOMER_DISCONNECT"), Outcome.ABANDONED),
        (rules(False, True, "EXPIRED"), Outcome.UNRESOLVED),
        (rules(False, False, "CONTACT_FLOW_DISCONNECT"), Outcome.RESOLVED),
        (rules(False, False, "CUSTOMER_DISCONNECT"), Outcome.RESOLVED),
        (
            rules(True, True, "CUSTOMER_DISCONNECT", transferred=True, stated=Outcome.RESOLVED),
            Outcome.RESOLVED,
        ),
    ],
)
def test_amazon_connect_outcome_rules(facts: dict[str, Any], outcome: Outcome) -> None:
    assert outcome_of(**facts) == outcome
