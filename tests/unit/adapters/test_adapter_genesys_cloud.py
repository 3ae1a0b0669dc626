from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from cxpulse.adapters.base import AdapterError
from cxpulse.adapters.genesys_cloud import adapt
from cxpulse.schemas.events import (
    Channel,
    ConversationNote,
    InteractionConnected,
    InteractionEnded,
    InteractionHeld,
    InteractionStarted,
    InteractionTransferred,
    NoteAuthor,
    Outcome,
)

CONVERSATION = "3ed5bc6f-6e3a-4b8e-9c6f-0a1b2c3d4e5f"
EXTERNAL_CONTACT = "e7c1f0d2-4b3a-4c5d-9e8f-1a2b3c4d5e6f"
QUEUE = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
AGENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def test_customer_start_starts_the_conversation(raw: Callable[[str], bytes]) -> None:
    (started,) = adapt(raw("genesys_customer_start.json"))

    assert isinstance(started, InteractionStarted)
    assert started.occurred_at == at("2024-05-20T15:30:00.120")
    assert (started.interaction_id, started.customer_id) == (CONVERSATION, EXTERNAL_CONTACT)
    assert (started.channel, started.source, started.direction) == (
        Channel.VOICE,
        "genesys-cloud",
        "inbound",
    )


def test_an_answered_acd_segment_connects_after_the_queue_time(
    raw: Callable[[str], bytes],
) -> None:
    (connected,) = adapt(raw("genesys_acd_end_answered.json"))

    assert isinstance(connected, InteractionConnected)
    assert connected.wait_seconds == pytest.approx(52.3)
    assert (connected.queue_id, connected.agent_id) == (QUEUE, AGENT)


def test_an_abandoned_acd_segment_ends_the_conversation(raw: Callable[[str], bytes]) -> None:
    (ended,) = adapt(raw("genesys_acd_end_abandon.json"))

    assert isinstance(ended, InteractionEnded)
    assert ended.outcome == Outcome.ABANDONED
    assert ended.wait_seconds == pytest.approx(211.8)
    assert ended.customer_id == "+14155550155"  # no external contact: the ANI without "tel:"


def test_the_agent_segment_end_tells_holds_and_transfers(raw: Callable[[str], bytes]) -> None:
    held, transferred = adapt(raw("genesys_user_end.json"))

    assert isinstance(held, InteractionHeld)
    assert held.hold_seconds == 61
    assert isinstance(transferred, InteractionTransferred)
    assert transferred.agent_id == AGENT
    assert held.event_id != transferred.event_id


def test_wrap_up_notes_become_an_agent_note(raw: Callable[[str], bytes]) -> None:
    (note,) = adapt(raw("genesys_acw.json"))

    assert isinstance(note, ConversationNote)
    assert note.author == NoteAuthor.AGENT
    assert "competitor" in note.text


def test_customer_end_ends_the_conversation(raw: Callable[[str], bytes]) -> None:
    (ended,) = adapt(raw("genesys_customer_end.json"))

    assert isinstance(ended, InteractionEnded)
    assert ended.occurred_at == at("2024-05-20T15:48:12.500")
    assert ended.outcome == Outcome.RESOLVED
    assert ended.handle_seconds == pytest.approx(1092.38)


def test_abandon_and_customer_end_share_the_ended_id(doc: Callable[[str], Any]) -> None:
    abandon = doc("genesys_acd_end_abandon.json")
    customer_end = doc("genesys_customer_end.json")
    customer_end["detail"]["eventBody"]["conversationId"] = abandon["detail"]["eventBody"][
        "conversationId"
    ]

    (first,) = adapt(encode(abandon))
    (second,) = adapt(encode(customer_end))

    assert first.event_id == second.event_id


@pytest.mark.parametrize(
    ("disconnect_type", "outcome"),
    [
        ("ENDPOINT", Outcome.RESOLVED),
        ("PEER", Outcome.RESOLVED),
        ("CONSULT_TRANSFER", Outcome.ESCALATED),
        ("TRANSPORT_FAILURE", Outcome.UNRESOLVED),
        ("ERROR", Outcome.UNRESOLVED),
    ],
)
def test_customer_end_outcome_rules(
    doc: Callable[[str], Any], disconnect_type: str, outcome: Outcome
) -> None:
    event = doc("genesys_customer_end.json")
    event["detail"]["eventBody"]["disconnectType"] = disconnect_type

    (ended,) = adapt(encode(event))

    assert isinstance(ended, InteractionEnded)
    assert ended.outcome == outcome


def test_a_spam_contact_maps_to_nothing(doc: Callable[[str], Any]) -> None:
    event = doc("genesys_customer_end.json")
    event["detail"]["eventBody"]["disconnectType"] = "SPAM"

    assert adapt(encode(event)) == []


def test_topics_without_a_mapping_map_to_nothing(doc: Callable[[str], Any]) -> None:
    event = doc("genesys_acd_end_answered.json")
    event["detail"]["topicName"] = f"v2.detail.events.conversation.{CONVERSATION}.acd.start"

    assert adapt(encode(event)) == []


def test_a_bare_notification_is_accepted(doc: Callable[[str], Any]) -> None:
    event = doc("genesys_customer_start.json")

    assert adapt(encode(event["detail"])) == adapt(encode(event))


def test_an_outbound_conversation_is_keyed_by_the_dialled_number(doc: Callable[[str], Any]) -> None:
    event = doc("genesys_customer_start.json")
    body = event["detail"]["eventBody"]
    del body["externalContactId"]
    body["conversationExternalContactIds"] = []
    body.update(direction="OUTBOUND", ani="tel:+18005550100", dnis="tel:+14155550199")

    (started,) = adapt(encode(event))

    assert isinstance(started, InteractionStarted)
    assert (started.customer_id, started.direction) == ("+14155550199", "outbound")


@pytest.mark.parametrize(
    ("media", "message", "channel"),
    [
        ("MESSAGE", "WHATSAPP", Channel.SOCIAL),
        ("MESSAGE", "SMS", Channel.SMS),
        ("MESSAGE", "WEBMESSAGING", Channel.CHAT),
        ("EMAIL", None, Channel.EMAIL),
        ("CALLBACK", None, Channel.VOICE),
        ("SCREENSHARE", None, None),
    ],
)
def test_media_types_map_to_channels(
    doc: Callable[[str], Any], media: str, message: str | None, channel: Channel | None
) -> None:
    event = doc("genesys_customer_start.json")
    event["detail"]["eventBody"].update(mediaType=media, messageType=message)

    (started,) = adapt(encode(event))

    assert started.channel == channel


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda e: e["detail"].update(topicName="v2.users.abc.activity"), "unsupported"),
        (lambda e: e["detail"].pop("eventBody"), "missing_field"),
        (lambda e: e["detail"]["eventBody"].pop("eventTime"), "missing_field"),
        (lambda e: e["detail"]["eventBody"].update(eventTime=10**20), "invalid_value"),
        (lambda e: e["detail"]["eventBody"].pop("conversationId"), "missing_field"),
        (lambda e: e["detail"]["eventBody"].update(interactingDurationMs="long"), "invalid_value"),
    ],
)
def test_malformed_events_are_rejected_with_a_reason(
    doc: Callable[[str], Any], edit: Callable[[dict[str, Any]], Any], reason: str
) -> None:
    event = doc("genesys_customer_end.json")
    edit(event)

    with pytest.raises(AdapterError) as caught:
        adapt(encode(event))

    assert caught.value.reason == reason
