"""Platform feeds, second pass: contacts without a customer, transfers and holds, vendor
sentiment and Contact Lens rules.  Fixtures follow the vendors' published shapes: the
Connect contact events carry only the default ``aws:connect:*`` tags, as a flow without a
*Set contact tags* block sends them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from cxpulse.adapters import ADAPTERS
from cxpulse.adapters.base import event_id
from cxpulse.schemas.events import (
    ConversationNote,
    InteractionConnected,
    InteractionEnded,
    InteractionHeld,
    InteractionStarted,
    InteractionTransferred,
    NoteAuthor,
    Outcome,
    SentimentObserved,
    Speaker,
)

CONTACT = "e3f0c5a2-7d1b-4c8e-9f0a-2b3c4d5e6f70"
ANONYMOUS = f"anon:amazon-connect:{CONTACT}"
QUEUE = "5c7d9e1f-2a3b-4c5d-8e9f-0a1b2c3d4e5f"
AGENT = "0d2e4f6a-8b1c-4d3e-9f5a-7b9c1d3e5f7a"
UNTAGGED = [
    "connect_event_untagged_initiated.json",
    "connect_event_untagged_connected_to_agent.json",
    "connect_event_untagged_disconnected.json",
]
events_adapter = ADAPTERS["amazon-connect-events"]
records_adapter = ADAPTERS["amazon-connect-ctr"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


# --- 1. contacts without a customer identity ---------------------------------------------


def test_an_untagged_contact_event_stream_is_scored_under_the_contacts_anonymous_key(
    raw: Callable[[str], bytes],
) -> None:
    events = [event for name in UNTAGGED for event in events_adapter(raw(name))]

    assert [type(event) for event in events] == [
        InteractionStarted,
        InteractionConnected,
        InteractionEnded,
    ]
    assert {event.customer_id for event in events} == {ANONYMOUS}
    assert {(event.queue_id, event.agent_id) for event in events[1:]} == {(QUEUE, AGENT)}


def test_tagging_the_contact_changes_its_customer_but_not_one_event_id(
    raw: Callable[[str], bytes], doc: Callable[[str], Any]
) -> None:
    """A re-sent payload deduplicates against the state of the old mapping: ids hash the
    contact and the kind, never the customer."""
    for name in UNTAGGED:
        tagged = doc(name)
        tagged["detail"]["tags"]["customerId"] = "CRM-77"
        anonymous = events_adapter(raw(name))
        identified = events_adapter(encode(tagged))
        assert [event.event_id for event in identified] == [e.event_id for e in anonymous]
        assert {event.customer_id for event in identified} == {"CRM-77"}


def test_a_chat_record_without_an_endpoint_is_anonymous_but_keeps_agent_and_queue(
    raw: Callable[[str], bytes],
) -> None:
    events = records_adapter(raw("ctr_chat_no_customer.json"))

    contact = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
    assert {event.customer_id for event in events} == {f"anon:amazon-connect:{contact}"}
    ended = events[-1]
    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.queue_id, ended.agent_id) == (Outcome.RESOLVED, QUEUE, AGENT)


@pytest.mark.parametrize(
    ("identities", "expected"),
    [
        ({"tag": "T-1", "attribute": "A-1", "field": "P-1", "endpoint": "+1555"}, "T-1"),
        ({"attribute": "A-1", "field": "P-1", "endpoint": "+1555"}, "A-1"),
        ({"field": "P-1", "endpoint": "+1555"}, "P-1"),
        ({"endpoint": "+1555"}, "+1555"),
        ({}, "anon:amazon-connect:3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"),
    ],
)
def test_a_contact_record_reads_identities_in_the_documented_order(
    doc: Callable[[str], Any], identities: dict[str, str], expected: str
) -> None:
    record = doc("ctr_chat_no_customer.json")
    if "tag" in identities:
        record["Tags"]["customerId"] = identities["tag"]
    if "attribute" in identities:
        record["Attributes"]["customerId"] = identities["attribute"]
    if "field" in identities:
        record["CustomerId"] = identities["field"]
    if "endpoint" in identities:
        record["CustomerEndpoint"] = {"Address": identities["endpoint"], "Type": "TELEPHONE_NUMBER"}

    assert {event.customer_id for event in records_adapter(encode(record))} == {expected}


def test_a_task_without_customer_attributes_is_anonymous(raw: Callable[[str], bytes]) -> None:
    params = dict(parse_qsl(raw("twilio_task_created.form").decode()))
    params["TaskAttributes"] = json.dumps({"channelType": "web"})

    (started,) = ADAPTERS["twilio-taskrouter"](urlencode(params).encode())

    assert started.customer_id == f"anon:twilio:{params['TaskSid']}"


def test_a_genesys_conversation_without_contact_or_address_is_anonymous(
    doc: Callable[[str], Any],
) -> None:
    event = doc("genesys_customer_end.json")
    body = event["detail"]["eventBody"]
    body.update(externalContactId=None, conversationExternalContactIds=[], ani=None)
    body.pop("addressFrom", None)

    (ended,) = ADAPTERS["genesys-cloud"](encode(event))

    assert ended.customer_id == f"anon:genesys-cloud:{body['conversationId']}"


def test_a_zendesk_ticket_or_rating_without_requester_is_anonymous(
    doc: Callable[[str], Any],
) -> None:
    ticket = doc("zendesk_ticket_created.json")
    ticket["detail"]["requester_id"] = None
    rating = doc("zendesk_satisfaction_rating.json")
    rating["satisfaction_rating"]["requester_id"] = None

    (started,) = ADAPTERS["zendesk"](encode(ticket))
    (feedback,) = ADAPTERS["zendesk"](encode(rating))

    assert started.customer_id == f"anon:zendesk:{ticket['detail']['id']}"
    assert feedback.customer_id == f"anon:zendesk:{rating['satisfaction_rating']['ticket_id']}"


# --- 2. lifecycle facts -------------------------------------------------------------------


def test_completed_carries_the_hold_and_repeats_the_disconnects_ended(
    raw: Callable[[str], bytes],
) -> None:
    held, ended = events_adapter(raw("connect_event_untagged_completed.json"))
    (disconnected,) = events_adapter(raw("connect_event_untagged_disconnected.json"))

    assert isinstance(held, InteractionHeld)
    assert held.hold_seconds == 45
    # the id a contact record gives the contact's first hold: the two feeds agree
    assert held.event_id == event_id("amazon-connect", CONTACT, "interaction.held", "0")
    assert isinstance(ended, InteractionEnded)
    assert ended.event_id == disconnected.event_id
    # handle = talk + hold (connected 15:01:40 to disconnected 15:09:12); the 112 s of
    # after-contact work are not in it
    assert (ended.handle_seconds, ended.hold_seconds) == (452, 45)


def test_a_transfer_leg_initiated_event_transfers_the_previous_contact(
    raw: Callable[[str], bytes],
) -> None:
    started, transferred = events_adapter(raw("connect_event_transfer_initiated.json"))

    assert isinstance(started, InteractionStarted)
    assert isinstance(transferred, InteractionTransferred)
    assert transferred.interaction_id == CONTACT
    assert transferred.customer_id == ANONYMOUS  # the previous contact's own key
    assert transferred.to_queue_id == "6e8f0a2b-4c6d-4e8f-9a1b-3c5d7e9f1a2b"
    assert transferred.event_id == event_id("amazon-connect", CONTACT, "interaction.transferred")


def test_a_record_with_a_transfer_endpoint_is_transferred_and_escalated(
    doc: Callable[[str], Any],
) -> None:
    record = doc("ctr_chat_no_customer.json")
    record["Channel"] = "VOICE"
    record["TransferredToEndpoint"] = {"Address": "+12065550177", "Type": "TELEPHONE_NUMBER"}

    events = records_adapter(encode(record))

    transferred = [event for event in events if isinstance(event, InteractionTransferred)]
    assert [event.occurred_at for event in transferred] == [at("2025-03-10T16:31:00")]
    ended = events[-1]
    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.transfers) == (Outcome.ESCALATED, 1)


@pytest.mark.parametrize(
    ("source", "fixture", "talk_and_hold"),
    [
        # AgentInteractionDuration 745 + CustomerHoldDuration 95; ACW 40 left out
        ("amazon-connect-ctr", "ctr_voice_resolved.json", 840),
        # disconnect - connected to agent; ACW left out
        ("amazon-connect-events", "connect_event_disconnected.json", 840),
    ],
)
def test_handle_seconds_is_talk_plus_hold_without_after_contact_work(
    raw: Callable[[str], bytes], source: str, fixture: str, talk_and_hold: float
) -> None:
    ended = [e for e in ADAPTERS[source](raw(fixture)) if isinstance(e, InteractionEnded)]

    assert [event.handle_seconds for event in ended] == [talk_and_hold]


# --- 3. vendor sentiment and rules --------------------------------------------------------


def test_contact_lens_transcript_segments_become_sentiment_by_speaker(
    raw: Callable[[str], bytes],
) -> None:
    events = events_adapter(raw("connect_event_contact_lens_chat_segments.json"))

    assert all(isinstance(event, SentimentObserved) for event in events)
    observed = [(e.who, e.score, e.occurred_at) for e in events if isinstance(e, SentimentObserved)]
    assert observed == [
        (Speaker.CUSTOMER, -1.0, datetime(2025, 3, 10, 16, 20, 5, 120000, tzinfo=UTC)),
        (Speaker.AGENT, 1.0, datetime(2025, 3, 10, 16, 20, 31, 480000, tzinfo=UTC)),
    ]
    assert {event.interaction_id for event in events} == {"3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"}


def test_voice_segments_with_only_offsets_and_other_session_events_map_to_nothing(
    doc: Callable[[str], Any],
) -> None:
    record = doc("connect_event_contact_lens_chat_segments.json")
    for segment in record["Segments"]:
        segment.get("Transcript", {}).pop("Time", None)
    started = dict(record, EventType="STARTED")
    started.pop("Segments")

    assert events_adapter(encode(record)) == []
    assert events_adapter(encode(started)) == []


def test_a_matched_contact_lens_rule_is_a_transcript_note_on_its_contact(
    raw: Callable[[str], bytes],
) -> None:
    (note,) = events_adapter(raw("connect_event_contact_lens_rule_matched.json"))

    assert isinstance(note, ConversationNote)
    assert note.text == "Contact Lens realtime rule matched: CustomerWantsToCancel"
    assert note.author == NoteAuthor.TRANSCRIPT
    assert (note.interaction_id, note.customer_id) == (CONTACT, ANONYMOUS)
    assert (note.queue_id, note.agent_id) == (QUEUE, AGENT)
    assert note.occurred_at == at("2025-03-10T15:04:17")
