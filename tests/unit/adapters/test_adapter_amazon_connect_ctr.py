from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from cxpulse.adapters.amazon_connect_ctr import adapt
from cxpulse.adapters.base import AdapterError
from cxpulse.schemas.events import (
    Channel,
    FeedbackReceived,
    InteractionConnected,
    InteractionEnded,
    InteractionHeld,
    InteractionStarted,
    InteractionTransferred,
    Outcome,
)

SUPPORT_QUEUE = "4b7e1f2a-33c5-4c1e-8f0b-1d2e3f4a5b6c"
BILLING_QUEUE = "8c9d0e1f-2a3b-4c5d-9e6f-7a8b9c0d1e2f"
ANA = "9a1f2b3c-4d5e-4f60-8a7b-1c2d3e4f5a6b"
BEN = "2b3c4d5e-6f70-4a81-9b2c-3d4e5f6a7b8c"
FIRST_LEG = "3f1a2b3c-4d5e-4f60-8172-93a4b5c6d7e8"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def test_a_resolved_voice_contact_becomes_its_whole_lifecycle(raw: Callable[[str], bytes]) -> None:
    events = adapt(raw("ctr_voice_resolved.json"))

    assert [event.type for event in events] == [
        "interaction.started",
        "interaction.connected",
        "interaction.held",
        "interaction.held",
        "interaction.ended",
    ]
    started, connected, first_hold, _, ended = events
    assert isinstance(started, InteractionStarted)
    assert started.occurred_at == at("2024-05-14T09:02:11")
    assert started.direction == "inbound"
    assert isinstance(connected, InteractionConnected)
    assert connected.occurred_at == at("2024-05-14T09:04:20")
    assert connected.wait_seconds == 78
    assert isinstance(first_hold, InteractionHeld)
    assert first_hold.hold_seconds is None  # two holds: the split of 95 s is unknown
    assert isinstance(ended, InteractionEnded)
    assert ended.occurred_at == at("2024-05-14T09:18:20")
    assert (ended.outcome, ended.wait_seconds, ended.handle_seconds) == (Outcome.RESOLVED, 78, 840)
    assert (ended.hold_seconds, ended.transfers) == (95, 0)
    for event in events:
        assert event.interaction_id == "6d2c7b6e-1c59-4b0e-9a4f-2f7d8a0c1e11"
        assert event.customer_id == "CUST-1001"
        assert (event.channel, event.queue_id, event.agent_id) == (
            Channel.VOICE,
            SUPPORT_QUEUE,
            ANA,
        )
        assert event.source == "amazon-connect"
    assert len({event.event_id for event in events}) == len(events)


def test_a_redelivered_record_repeats_its_ids(raw: Callable[[str], bytes]) -> None:
    payload = raw("ctr_voice_resolved.json")

    assert adapt(payload) == adapt(payload)


def test_an_updated_record_adds_only_its_new_facts(raw: Callable[[str], bytes]) -> None:
    first = adapt(raw("ctr_voice_resolved.json"))
    updated = adapt(raw("ctr_voice_resolved_updated.json"))

    first_ids = {event.event_id for event in first}
    new = [event for event in updated if event.event_id not in first_ids]
    assert first_ids <= {event.event_id for event in updated}
    assert len(new) == 1
    feedback = new[0]
    assert isinstance(feedback, FeedbackReceived)
    assert (feedback.csat, feedback.nps) == (4, 9)
    assert feedback.comment == "Ana sorted my bill quickly."
    assert feedback.occurred_at == at("2024-05-14T09:45:03")


def test_a_contact_queued_but_never_answered_is_abandoned(raw: Callable[[str], bytes]) -> None:
    events = adapt(raw("ctr_abandoned.json"))

    assert [event.type for event in events] == ["interaction.started", "interaction.ended"]
    ended = events[-1]
    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.wait_seconds, ended.handle_seconds) == (
        Outcome.ABANDONED,
        348,
        None,
    )
    assert ended.customer_id == "+14155550188"  # no customerId attribute: the caller's number
    assert ended.agent_id is None


def test_the_first_leg_of_a_transfer_is_escalated_and_transferred(
    raw: Callable[[str], bytes],
) -> None:
    """The first leg tells its own transfer (NextContactId); the second leg tells it too,
    under the same id, so whichever record arrives first links the chain once."""
    events = adapt(raw("ctr_transfer_first_leg.json"))

    transferred = [event for event in events if isinstance(event, InteractionTransferred)]
    links = [
        event
        for event in adapt(raw("ctr_transfer_second_leg.json"))
        if isinstance(event, InteractionTransferred)
    ]
    assert [event.interaction_id for event in transferred] == [FIRST_LEG]
    assert [event.event_id for event in transferred] == [event.event_id for event in links]
    ended = events[-1]
    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.transfers) == (Outcome.ESCALATED, 1)


def test_the_second_leg_links_the_transfer_to_the_first(raw: Callable[[str], bytes]) -> None:
    events = adapt(raw("ctr_transfer_second_leg.json"))

    links = [event for event in events if isinstance(event, InteractionTransferred)]
    assert len(links) == 1
    link = links[0]
    assert link.interaction_id == FIRST_LEG
    assert link.occurred_at == at("2024-05-15T14:04:58")
    assert (link.to_queue_id, link.to_agent_id) == (BILLING_QUEUE, BEN)
    assert (link.queue_id, link.agent_id) == (None, None)
    own = [event for event in events if event.interaction_id != FIRST_LEG]
    ended = own[-1]
    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.queue_id, ended.agent_id) == (Outcome.RESOLVED, BILLING_QUEUE, BEN)
    held = [event for event in own if isinstance(event, InteractionHeld)]
    assert [event.hold_seconds for event in held] == [30]  # a single hold keeps its duration


def test_a_post_contact_survey_rates_the_previous_contact(raw: Callable[[str], bytes]) -> None:
    events = adapt(raw("ctr_post_chat_survey.json"))

    assert len(events) == 1
    feedback = events[0]
    assert isinstance(feedback, FeedbackReceived)
    assert feedback.interaction_id == "d15c0000-aaaa-4bbb-8ccc-dddddddddddd"
    assert (feedback.csat, feedback.effort, feedback.nps) == (2, 6, None)
    assert feedback.channel == Channel.CHAT


def test_a_flow_can_state_the_outcome(doc: Callable[[str], Any]) -> None:
    record = doc("ctr_voice_resolved.json")
    record["Attributes"]["cxpulse_outcome"] = "Unresolved"

    ended = adapt(encode(record))[-1]

    assert isinstance(ended, InteractionEnded)
    assert ended.outcome == Outcome.UNRESOLVED


def test_a_dropped_call_with_an_agent_is_unresolved(doc: Callable[[str], Any]) -> None:
    record = doc("ctr_voice_resolved.json")
    record["DisconnectReason"] = "TELECOM_PROBLEM"

    ended = adapt(encode(record))[-1]

    assert isinstance(ended, InteractionEnded)
    assert ended.outcome == Outcome.UNRESOLVED


def test_a_transfer_out_of_connect_is_told_by_the_record(doc: Callable[[str], Any]) -> None:
    record = doc("ctr_voice_resolved.json")
    record["TransferCompletedTimestamp"] = "2024-05-14T09:18:20Z"
    record["TransferredToEndpoint"] = {"Address": "+18005550111", "Type": "TELEPHONE_NUMBER"}

    events = adapt(encode(record))

    transferred = [event for event in events if event.type == "interaction.transferred"]
    assert [event.occurred_at for event in transferred] == [at("2024-05-14T09:18:20")]
    ended = events[-1]
    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.transfers) == (Outcome.ESCALATED, 1)


def test_supervisor_monitoring_legs_are_not_interactions(doc: Callable[[str], Any]) -> None:
    record = doc("ctr_voice_resolved.json")
    record["InitiationMethod"] = "MONITOR"

    assert adapt(encode(record)) == []


DELETE = object()


def change(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(record: dict[str, Any]) -> None:
        target = record
        for key in path[:-1]:
            target = target[key]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return apply


@pytest.mark.parametrize(
    ("edit", "reason", "mentions"),
    [
        (change(("ContactId",), DELETE), "missing_field", "ContactId"),
        (change(("Agent",), "ana.silva"), "invalid_shape", "record.Agent"),
        (change(("InitiationTimestamp",), "14/05/2024 09:02"), "invalid_value", "Initiation"),
        (change(("InitiationTimestamp",), "2024-05-14T09:02:11"), "invalid_value", "offset"),
        (change(("Attributes", "csat"), "9"), "invalid_value", "csat"),
        (change(("Attributes", "cxpulse_outcome"), "sold"), "invalid_value", "cxpulse_outcome"),
        (change(("Queue", "Duration"), -5), "invalid_value", "wait_seconds"),
        (change(("Agent", "NumberOfHolds"), 1.5), "invalid_value", "NumberOfHolds"),
        (change(("Agent", "NumberOfHolds"), -1), "invalid_value", "NumberOfHolds"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason(
    doc: Callable[[str], Any],
    edit: Callable[[dict[str, Any]], None],
    reason: str,
    mentions: str,
) -> None:
    record = doc("ctr_voice_resolved.json")
    edit(record)

    with pytest.raises(AdapterError) as caught:
        adapt(encode(record))

    assert caught.value.reason == reason
    assert mentions in caught.value.message


def test_a_record_without_any_customer_reference_gets_the_contacts_anonymous_key(
    doc: Callable[[str], Any],
) -> None:
    record = doc("ctr_abandoned.json")
    record["CustomerEndpoint"] = None

    events = adapt(encode(record))

    assert events
    assert {event.customer_id for event in events} == {f"anon:amazon-connect:{record['ContactId']}"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"", "invalid_json"), (b"{'ContactId': 1}", "invalid_json"), (b"[1, 2]", "invalid_shape")],
)
def test_payloads_that_are_not_records(payload: bytes, reason: str) -> None:
    with pytest.raises(AdapterError) as caught:
        adapt(payload)

    assert caught.value.reason == reason
