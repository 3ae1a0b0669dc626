from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from cxpulse.adapters import amazon_connect_ctr
from cxpulse.adapters.amazon_connect_events import adapt
from cxpulse.adapters.base import AdapterError
from cxpulse.schemas.events import (
    Channel,
    InteractionConnected,
    InteractionEnded,
    InteractionStarted,
    Outcome,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def test_initiated_starts_the_interaction(raw: Callable[[str], bytes]) -> None:
    (started,) = adapt(raw("connect_event_initiated.json"))

    assert isinstance(started, InteractionStarted)
    assert started.occurred_at == at("2024-05-14T09:02:11")
    assert (started.interaction_id, started.customer_id) == (
        "6d2c7b6e-1c59-4b0e-9a4f-2f7d8a0c1e11",
        "CUST-1001",
    )
    assert (started.channel, started.source, started.direction) == (
        Channel.VOICE,
        "amazon-connect",
        "inbound",
    )


def test_connected_to_agent_measures_the_queue_wait(raw: Callable[[str], bytes]) -> None:
    (connected,) = adapt(raw("connect_event_connected_to_agent.json"))

    assert isinstance(connected, InteractionConnected)
    assert connected.occurred_at == at("2024-05-14T09:04:20")
    assert connected.wait_seconds == 78
    assert connected.queue_id == "4b7e1f2a-33c5-4c1e-8f0b-1d2e3f4a5b6c"
    assert connected.agent_id == "9a1f2b3c-4d5e-4f60-8a7b-1c2d3e4f5a6b"


def test_disconnected_after_an_agent_is_resolved(raw: Callable[[str], bytes]) -> None:
    (ended,) = adapt(raw("connect_event_disconnected.json"))

    assert isinstance(ended, InteractionEnded)
    assert ended.occurred_at == at("2024-05-14T09:18:20")
    assert (ended.outcome, ended.wait_seconds, ended.handle_seconds) == (Outcome.RESOLVED, 78, 840)


def test_disconnected_in_queue_is_abandoned(raw: Callable[[str], bytes]) -> None:
    (ended,) = adapt(raw("connect_event_disconnected_abandoned.json"))

    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.wait_seconds, ended.handle_seconds) == (
        Outcome.ABANDONED,
        348,
        None,
    )
    assert ended.customer_id == "CUST-1044"


def test_event_types_the_contract_does_not_model_map_to_nothing(
    raw: Callable[[str], bytes], doc: Callable[[str], Any]
) -> None:
    updated = doc("connect_event_disconnected.json")
    updated["detail"]["eventType"] = "CONTACT_DATA_UPDATED"

    assert adapt(raw("connect_event_queued.json")) == []
    assert adapt(encode(updated)) == []


@pytest.mark.parametrize(
    ("event_file", "record_file", "kind"),
    [
        ("connect_event_initiated.json", "ctr_voice_resolved.json", "interaction.started"),
        (
            "connect_event_connected_to_agent.json",
            "ctr_voice_resolved.json",
            "interaction.connected",
        ),
        ("connect_event_disconnected.json", "ctr_voice_resolved.json", "interaction.ended"),
        ("connect_event_disconnected_abandoned.json", "ctr_abandoned.json", "interaction.ended"),
    ],
)
def test_events_share_ids_with_the_contact_record(
    raw: Callable[[str], bytes], event_file: str, record_file: str, kind: str
) -> None:
    (event,) = adapt(raw(event_file))
    from_record = [e for e in amazon_connect_ctr.adapt(raw(record_file)) if e.type == kind]

    assert [e.event_id for e in from_record] == [event.event_id]


def test_the_envelope_time_stands_in_for_a_missing_detail_time(doc: Callable[[str], Any]) -> None:
    event = doc("connect_event_initiated.json")
    del event["detail"]["initiationTimestamp"]

    (started,) = adapt(encode(event))

    assert started.occurred_at == at("2024-05-14T09:02:12")


def test_a_customer_endpoint_is_used_without_a_tag(doc: Callable[[str], Any]) -> None:
    event = doc("connect_event_initiated.json")
    del event["detail"]["tags"]["customerId"]
    event["detail"]["customerEndpoint"] = {"address": "+14155550123", "type": "TELEPHONE_NUMBER"}

    (started,) = adapt(encode(event))

    assert started.customer_id == "+14155550123"


def edited(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(event: dict[str, Any]) -> None:
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (edited(("detail-type",), "Contact Lens Analysis State Change"), "unsupported"),
        (edited(("detail", "eventType"), None), "missing_field"),
        (edited(("detail", "contactId"), None), "missing_field"),
        (edited(("detail", "agentInfo"), ["arn"]), "invalid_shape"),
        (edited(("detail", "disconnectTimestamp"), "yesterday"), "invalid_value"),
        (
            edited(("detail", "queueInfo", "enqueueTimestamp"), "2024-05-14T09:30:00Z"),
            "invalid_value",
        ),
    ],
)
def test_malformed_events_are_rejected_with_a_reason(
    doc: Callable[[str], Any], edit: Callable[[dict[str, Any]], None], reason: str
) -> None:
    event = doc("connect_event_disconnected.json")
    edit(event)

    with pytest.raises(AdapterError) as caught:
        adapt(encode(event))

    assert caught.value.reason == reason
