from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from cxpulse.adapters.base import AdapterError
from cxpulse.adapters.twilio_taskrouter import adapt
from cxpulse.schemas.events import (
    Channel,
    FeedbackReceived,
    InteractionConnected,
    InteractionEnded,
    InteractionHeld,
    InteractionStarted,
    Outcome,
)

TASK = "WT1d187abc335f7f16ff050a66f9b6a6b2"
WORKER = "WKa1b2c3d4e5f60718293a4b5c6d7e8f90"
QUEUE = "WQa9e71cb17d52c8b75e4934b75e3297bc"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def form(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode()))


def test_task_created_callback_starts_the_interaction(raw: Callable[[str], bytes]) -> None:
    (started,) = adapt(raw("twilio_task_created.form"))

    assert isinstance(started, InteractionStarted)
    assert started.occurred_at == at("2024-05-14T09:02:11.123")  # TimestampMs
    assert (started.interaction_id, started.customer_id) == (TASK, "CUST-4004")
    assert (started.channel, started.queue_id, started.source) == (Channel.VOICE, QUEUE, "twilio")
    assert started.agent_id is None


def test_an_accepted_reservation_connects_after_the_task_age(raw: Callable[[str], bytes]) -> None:
    (connected,) = adapt(raw("twilio_reservation_accepted.form"))

    assert isinstance(connected, InteractionConnected)
    assert (connected.wait_seconds, connected.agent_id) == (42, WORKER)


def test_a_completed_task_ends_with_flex_insights_times_and_survey(
    raw: Callable[[str], bytes],
) -> None:
    held, ended, feedback = adapt(raw("twilio_task_completed.form"))

    assert isinstance(held, InteractionHeld)
    assert held.hold_seconds == 35
    assert isinstance(ended, InteractionEnded)
    assert ended.occurred_at == at("2024-05-14T09:10:42")
    assert (ended.outcome, ended.wait_seconds, ended.handle_seconds, ended.hold_seconds) == (
        Outcome.RESOLVED,
        42,
        447,
        35,
    )
    assert isinstance(feedback, FeedbackReceived)
    assert feedback.csat == 5


def test_a_canceled_task_is_abandoned(raw: Callable[[str], bytes]) -> None:
    (ended,) = adapt(raw("twilio_task_canceled.form"))

    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.wait_seconds) == (Outcome.ABANDONED, 187)


def test_a_json_relay_of_the_callback_maps_like_the_form(raw: Callable[[str], bytes]) -> None:
    body = raw("twilio_task_completed.form")

    assert adapt(json.dumps(form(body)).encode()) == adapt(body)


def test_event_streams_cloudevents_map_like_callbacks(raw: Callable[[str], bytes]) -> None:
    (started,) = adapt(raw("twilio_eventstreams_task_created.json"))

    assert isinstance(started, InteractionStarted)
    assert started.occurred_at == at("2024-05-14T11:00:00.250")
    assert (started.customer_id, started.channel) == ("CUST-5005", Channel.CHAT)


def test_a_batch_of_cloudevents_maps_every_event(raw: Callable[[str], bytes]) -> None:
    connected, ended = adapt(raw("twilio_eventstreams_batch.json"))

    assert isinstance(connected, InteractionConnected)
    assert (connected.wait_seconds, connected.agent_id) == (
        15,
        "WKb2c3d4e5f60718293a4b5c6d7e8f9a01",
    )
    assert isinstance(ended, InteractionEnded)
    assert (ended.outcome, ended.handle_seconds) == (Outcome.ESCALATED, 600)  # reason "escalated"


def test_redelivered_callbacks_repeat_their_ids(raw: Callable[[str], bytes]) -> None:
    body = raw("twilio_task_created.form")

    assert [e.event_id for e in adapt(body)] == [e.event_id for e in adapt(body)]


def with_params(raw: bytes, **params: str) -> bytes:
    return urlencode({**form(raw), **params}).encode()


def with_attributes(raw: bytes, attributes: dict[str, Any]) -> bytes:
    return with_params(raw, TaskAttributes=json.dumps(attributes))


@pytest.mark.parametrize(
    ("attributes", "customer"),
    [
        ({"customers": {"external_id": "C-9", "phone": "+1555"}, "customerId": "X"}, "C-9"),
        ({"customerId": "X-7", "customers": {"phone": "+1555"}}, "X-7"),
        ({"customers": {"phone": "+15550001", "email": "a@example.com"}}, "+15550001"),
        ({"customers": {"email": "a@example.com"}, "from": "+1555"}, "a@example.com"),
        ({"from": "+15550002"}, "+15550002"),
    ],
)
def test_the_customer_is_the_most_stable_reference_present(
    raw: Callable[[str], bytes], attributes: dict[str, Any], customer: str
) -> None:
    (started,) = adapt(with_attributes(raw("twilio_task_created.form"), attributes))

    assert started.customer_id == customer


@pytest.mark.parametrize(
    ("conversations", "params", "outcome"),
    [
        ({"abandoned": "Yes"}, {}, Outcome.ABANDONED),
        ({}, {"TaskCompletedReason": "unresolved"}, Outcome.UNRESOLVED),
        ({}, {"TaskCompletedReason": "Wrapped up"}, Outcome.RESOLVED),
    ],
)
def test_completed_outcome_rules(
    raw: Callable[[str], bytes],
    conversations: dict[str, str],
    params: dict[str, str],
    outcome: Outcome,
) -> None:
    body = raw("twilio_task_completed.form")
    attributes = {"customers": {"external_id": "C-1"}, "conversations": conversations}

    (ended,) = adapt(with_params(body, TaskAttributes=json.dumps(attributes), **params))

    assert isinstance(ended, InteractionEnded)
    assert ended.outcome == outcome


def test_a_stated_outcome_wins(raw: Callable[[str], bytes]) -> None:
    attributes = {"customers": {"external_id": "C-1"}, "cxpulse_outcome": "escalated"}

    (ended,) = adapt(with_attributes(raw("twilio_task_completed.form"), attributes))

    assert isinstance(ended, InteractionEnded)
    assert ended.outcome == Outcome.ESCALATED


def test_events_outside_the_task_lifecycle_map_to_nothing(raw: Callable[[str], bytes]) -> None:
    worker_event = urlencode(
        {
            "EventType": "worker.activity.update",
            "WorkerSid": WORKER,
            "WorkerActivityName": "Break",
            "Timestamp": "1715677900",
        }
    ).encode()

    assert adapt(worker_event) == []
    assert adapt(with_params(raw("twilio_task_created.form"), EventType="task.updated")) == []


def test_a_seconds_timestamp_is_used_without_milliseconds(raw: Callable[[str], bytes]) -> None:
    params = form(raw("twilio_task_created.form"))
    del params["TimestampMs"]

    (started,) = adapt(urlencode(params).encode())

    assert started.occurred_at == at("2024-05-14T09:02:11")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"TaskAttributes": "{not json"}, "invalid_value"),
        ({"TaskAttributes": "[1, 2]"}, "invalid_shape"),
        ({"TaskSid": ""}, "missing_field"),
        ({"EventType": ""}, "missing_field"),
        ({"TimestampMs": "soon"}, "invalid_value"),
        ({"TaskAge": "-3"}, "invalid_value"),
    ],
)
def test_malformed_callbacks_are_rejected_with_a_reason(
    raw: Callable[[str], bytes], params: dict[str, str], reason: str
) -> None:
    with pytest.raises(AdapterError) as caught:
        adapt(with_params(raw("twilio_reservation_accepted.form"), **params))

    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe\x00garbage", "invalid_form"),
        (b"a=1&&b", "invalid_form"),
        (
            b'{"specversion": "1.0", "type": "com.twilio.messaging.inbound-message.received"}',
            "unsupported",
        ),
        (b'{"specversion": "1.0", "type": "com.twilio.taskrouter.task.created"}', "missing_field"),
        (b"[1]", "invalid_shape"),
        (b"{", "invalid_json"),
    ],
)
def test_payloads_that_are_not_taskrouter_events(payload: bytes, reason: str) -> None:
    with pytest.raises(AdapterError) as caught:
        adapt(payload)

    assert caught.value.reason == reason
