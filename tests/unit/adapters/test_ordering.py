"""ordering_key: a raw payload's Kafka key is its contact, so one contact's payloads keep
their order through the adapter."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.adapters import ADAPTERS
from cxpulse.adapters.ordering import ordering_key


@pytest.mark.parametrize(
    ("source", "payloads"),
    [
        (
            "amazon-connect-events",
            [
                "connect_event_initiated.json",
                "connect_event_queued.json",
                "connect_event_connected_to_agent.json",
                "connect_event_disconnected.json",
            ],
        ),
        ("amazon-connect-ctr", ["ctr_voice_resolved.json", "ctr_voice_resolved_updated.json"]),
        (
            "genesys-cloud",
            ["genesys_customer_start.json", "genesys_acd_end_answered.json", "genesys_acw.json"],
        ),
        (
            "twilio-taskrouter",
            [
                "twilio_task_created.form",
                "twilio_reservation_accepted.form",
                "twilio_task_completed.form",
            ],
        ),
        (
            "zendesk",
            [
                "zendesk_ticket_created.json",
                "zendesk_status_changed_solved.json",
                "zendesk_satisfaction_rating.json",
            ],
        ),
    ],
)
def test_one_contacts_payloads_share_the_key_of_their_interaction(
    source: str, payloads: list[str], raw: Callable[[str], bytes]
) -> None:
    keys = {ordering_key(source, raw(name)) for name in payloads}
    interactions = {e.interaction_id for name in payloads for e in ADAPTERS[source](raw(name))}
    assert len(interactions) == 1
    assert keys == {str(interactions.pop()).encode()}


def test_a_transfers_legs_share_the_key_of_the_first_contact(raw: Callable[[str], bytes]) -> None:
    legs = ["ctr_transfer_first_leg.json", "ctr_transfer_second_leg.json"]
    first = json.loads(raw(legs[0]))["ContactId"]
    assert {ordering_key("amazon-connect-ctr", raw(name)) for name in legs} == {first.encode()}


def test_contact_lens_rules_are_keyed_by_the_contact_of_their_arn(
    raw: Callable[[str], bytes],
) -> None:
    body = raw("connect_event_contact_lens_rule_matched.json")
    arn = json.loads(body)["detail"]["contactArn"]
    assert ordering_key("amazon-connect-events", body) == arn.rpartition("/")[2].encode()


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("zendesk", b"{not json"),
        ("zendesk", b'{"type": "zen:event-type:ticket.created"}'),
        ("twilio-taskrouter", b"EventType=task.created"),
        ("twilio-taskrouter", b"[]"),
        ("genesys-cloud", b'{"detail": {"eventBody": {"conversationId": ""}}}'),
        ("no-such-source", b'{"detail": {"id": 1}}'),
        ("amazon-connect-ctr", b"\xff\xfe"),
    ],
)
def test_a_payload_without_a_contact_gets_no_key(source: str, body: bytes) -> None:
    assert ordering_key(source, body) is None


@given(source=st.sampled_from(sorted(ADAPTERS)), body=st.binary(max_size=300))
def test_any_bytes_give_a_key_or_none_and_never_raise(source: str, body: bytes) -> None:
    key = ordering_key(source, body)
    assert key is None or (isinstance(key, bytes) and key)
