"""Twilio TaskRouter events: workspace event callbacks and Event Streams CloudEvents.

Two deliveries carry the same facts:

* the workspace ``EventCallbackUrl`` POSTs form-encoded parameters (``EventType``,
  ``TaskSid``, ``TaskAttributes`` as a JSON string, ``TaskAge``, ``WorkerSid``, ...); a relay
  may forward them as a JSON object with the same names;
* Event Streams sends CloudEvents (``type: com.twilio.taskrouter.task.created``) whose
  ``data.payload`` (or ``data``) has the same fields in snake_case; a batching sink sends a
  JSON array of them.

The interaction is the Task.  task.created, reservation.accepted, task.transfer-initiated,
task.canceled and task.completed map to events; the many other TaskRouter events (worker
activity, workflow, queue, ...) map to none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from cxpulse.adapters.attributes import outcome_from, survey_from
from cxpulse.adapters.base import (
    INVALID_FORM,
    INVALID_VALUE,
    MISSING_FIELD,
    UNSUPPORTED,
    AdapterError,
    Contact,
    Fields,
    decode_json,
    first_identity,
    from_epoch,
    parse_iso_time,
    validated,
)
from cxpulse.schemas.events import Channel, Event, Outcome

SOURCE = "twilio"
CLOUDEVENT_PREFIX = "com.twilio.taskrouter."

#: Task channel unique names, then Flex ``channelType`` attribute values.
_CHANNELS = {
    "voice": Channel.VOICE,
    "chat": Channel.CHAT,
    "web": Channel.CHAT,
    "sms": Channel.SMS,
    "email": Channel.EMAIL,
    "video": Channel.VIDEO,
    "whatsapp": Channel.SOCIAL,
    "messenger": Channel.SOCIAL,
    "facebook": Channel.SOCIAL,
    "instagram": Channel.SOCIAL,
}

_EPOCH = re.compile(r"[0-9]+(\.[0-9]+)?")

#: Epoch values above this are milliseconds, below it seconds (both cover 2000-2100).
_EPOCH_MS_THRESHOLD = 1e11


def adapt(raw: bytes) -> list[Event]:
    return validated(candidate for event in _task_events(raw) for candidate in _mapped(event))


def _task_events(raw: bytes) -> list[Fields]:
    """Every delivery normalised to the callback's parameter names."""
    if raw.lstrip()[:1] not in (b"{", b"["):
        return [_form(raw)]
    decoded = decode_json(raw)
    if isinstance(decoded, list):
        return [
            _normalised(Fields.of(item, f"events[{index}]")) for index, item in enumerate(decoded)
        ]
    return [_normalised(Fields.of(decoded, "event"))]


def _form(raw: bytes) -> Fields:
    try:
        pairs = parse_qsl(raw.decode("utf-8").strip(), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise AdapterError(
            INVALID_FORM, f"payload is neither JSON nor a form-encoded body ({exc})"
        ) from None
    return Fields(dict(pairs), "form")


def _pascal(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def _normalised(event: Fields) -> Fields:
    """A CloudEvent becomes a callback-shaped object; a callback object is left as is."""
    kind = event.text("type")
    if event.raw("specversion") is None and kind is None:
        return event
    if kind is None or not kind.startswith(CLOUDEVENT_PREFIX):
        raise AdapterError(
            UNSUPPORTED, f"{event.where('type')} is {kind!r}, not a TaskRouter event"
        )
    data = event.require_child("data")
    payload = data.child("payload") or data
    fields = {_pascal(key): payload.raw(key) for key in payload.names()}
    fields["EventType"] = kind.removeprefix(CLOUDEVENT_PREFIX)
    fields["Sid"] = fields.get("Sid") or data.raw("sid") or event.raw("id")
    fields["Timestamp"] = fields.get("Timestamp") or data.raw("timestamp") or event.raw("time")
    return Fields(fields, payload.path)


def _mapped(event: Fields) -> list[dict[str, Any]]:
    handler = _HANDLERS.get(event.require_text("EventType"))
    if handler is None:
        return []
    attributes = _attributes(event)
    contact = Contact(
        source=SOURCE,
        interaction_id=event.require_text("TaskSid"),
        customer_id=_customer_id(attributes),
        channel=_channel(event, attributes),
        queue_id=event.text("TaskQueueSid"),
        agent_id=event.text("WorkerSid"),
    )
    return handler(event, contact, attributes, _event_time(event))


def _attributes(event: Fields) -> Fields:
    """``TaskAttributes`` is a JSON string in callbacks; a relay may send it as an object."""
    where = event.where("TaskAttributes")
    value = event.raw("TaskAttributes")
    if value is None:
        return Fields({}, where)
    if isinstance(value, str):
        try:
            value = decode_json(value.encode())
        except AdapterError:
            raise AdapterError(INVALID_VALUE, f"{where} is not valid JSON") from None
    return Fields.of(value, where)


def _customer_id(attributes: Fields) -> str | None:
    """Flex ``customers.external_id``, a ``customerId`` attribute, then the customer's phone,
    email or ``from`` address; else None, the task's anonymous key."""
    customers = attributes.child("customers")
    candidates = [
        customers.text("external_id") if customers else None,
        attributes.text("customerId"),
        customers.text("phone") if customers else None,
        customers.text("email") if customers else None,
        attributes.text("from"),
    ]
    return first_identity(candidates)


def _channel(event: Fields, attributes: Fields) -> Channel | None:
    by_task_channel = _CHANNELS.get((event.text("TaskChannelUniqueName") or "").casefold())
    return by_task_channel or _CHANNELS.get((attributes.text("channelType") or "").casefold())


def _event_time(event: Fields) -> datetime:
    millis = event.number("TimestampMs")
    if millis is not None:
        return from_epoch(millis, 1000, event.where("TimestampMs"))
    where = event.where("Timestamp")
    stamp = event.text("Timestamp")
    if stamp is None:
        raise AdapterError(MISSING_FIELD, f"{where} is missing")
    if _EPOCH.fullmatch(stamp):
        number = float(stamp)
        return from_epoch(number, 1000 if number > _EPOCH_MS_THRESHOLD else 1, where)
    return parse_iso_time(stamp, where)


Handler = Callable[[Fields, Contact, Fields, datetime], list[dict[str, Any]]]


def _created(_: Fields, contact: Contact, attributes: Fields, at: datetime) -> list[dict[str, Any]]:
    outbound = (attributes.text("direction") or "").casefold() == "outbound"
    return [
        contact.event("interaction.started", at, direction="outbound" if outbound else "inbound")
    ]


def _accepted(event: Fields, contact: Contact, _: Fields, at: datetime) -> list[dict[str, Any]]:
    """The worker accepted the reservation; the task's age is how long it waited."""
    return [contact.event("interaction.connected", at, wait_seconds=event.number("TaskAge"))]


def _transfer(event: Fields, contact: Contact, _: Fields, at: datetime) -> list[dict[str, Any]]:
    key = event.text("Sid") or at.isoformat()
    return [contact.event("interaction.transferred", at, key)]


def _canceled(event: Fields, contact: Contact, _: Fields, at: datetime) -> list[dict[str, Any]]:
    """Canceled before completion: the customer left (hung up, timed out) unserved."""
    return [
        contact.event(
            "interaction.ended",
            at,
            outcome=Outcome.ABANDONED,
            wait_seconds=event.number("TaskAge"),
        )
    ]


def _completed_outcome(event: Fields, attributes: Fields, conversations: Fields | None) -> Outcome:
    """``cxpulse_outcome``, then Flex Insights ``conversations.abandoned``, then a
    TaskCompletedReason that names an outcome; otherwise resolved."""
    stated = outcome_from(attributes)
    if stated is not None:
        return stated
    if conversations and (conversations.text("abandoned") or "").casefold() == "yes":
        return Outcome.ABANDONED
    reason = (event.text("TaskCompletedReason") or "").casefold()
    return next((outcome for outcome in Outcome if outcome.value == reason), Outcome.RESOLVED)


def _completed(
    event: Fields, contact: Contact, attributes: Fields, at: datetime
) -> list[dict[str, Any]]:
    """Flex Insights ``conversations`` times (seconds) give wait, talk and hold."""
    conversations = attributes.child("conversations")
    talk = conversations.number("talk_time") if conversations else None
    hold = conversations.number("hold_time") if conversations else None
    events = []
    if hold:
        events.append(contact.event("interaction.held", at, hold_seconds=hold))
    events.append(
        contact.event(
            "interaction.ended",
            at,
            outcome=_completed_outcome(event, attributes, conversations),
            wait_seconds=conversations.number("queue_time") if conversations else None,
            handle_seconds=None if talk is None else talk + (hold or 0),
            hold_seconds=hold,
        )
    )
    survey = survey_from(attributes)
    if survey:
        events.append(contact.event("feedback.received", at, **survey))
    return events


_HANDLERS: dict[str, Handler] = {
    "task.created": _created,
    "reservation.accepted": _accepted,
    "task.transfer-initiated": _transfer,
    "task.canceled": _canceled,
    "task.completed": _completed,
}
