"""Genesys Cloud analytics detail events, as the Amazon EventBridge integration delivers them.

Each EventBridge event names its topic in ``detail-type`` and ``detail.topicName``
(``v2.detail.events.conversation.{id}.customer.end``) and carries the detail event in
``detail.eventBody``; a bare ``{"topicName", "eventBody"}`` notification is accepted too.
The interaction is the conversation.  Mapped topics:

* ``customer.start`` -> started;
* ``acd.end`` -> connected (ANSWERED), ended as abandoned (ABANDON), transferred (FLOW_OUT);
* ``user.end`` -> held (when ``heldDurationMs`` > 0) and transferred (transfer disconnects);
* ``acw`` -> conversation.note with the agent's wrap-up notes;
* ``customer.end`` -> ended.

Other topics (acd.start, user.start, flow.*, ...) map to no event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cxpulse.adapters.base import (
    MISSING_FIELD,
    UNSUPPORTED,
    AdapterError,
    Contact,
    Fields,
    decode_json,
    note_text,
    seconds,
    validated,
)
from cxpulse.schemas.events import Channel, Event, NoteAuthor, Outcome

SOURCE = "genesys-cloud"

_TOPIC = re.compile(r"v2\.detail\.events\.conversation\.([^.]+)\.(.+)")

_MEDIA = {
    "VOICE": Channel.VOICE,
    "CALLBACK": Channel.VOICE,
    "CHAT": Channel.CHAT,
    "EMAIL": Channel.EMAIL,
    "VIDEO": Channel.VIDEO,
}
_MESSAGES = {
    "SMS": Channel.SMS,
    "WEBMESSAGING": Channel.CHAT,
    "OPEN": Channel.CHAT,
    "WHATSAPP": Channel.SOCIAL,
    "FACEBOOK": Channel.SOCIAL,
    "TWITTER": Channel.SOCIAL,
    "INSTAGRAM": Channel.SOCIAL,
    "LINE": Channel.SOCIAL,
}

_TRANSFERS = frozenset(
    {
        "TRANSFER",
        "CONFERENCE_TRANSFER",
        "CONSULT_TRANSFER",
        "FORWARD_TRANSFER",
        "NO_ANSWER_TRANSFER",
        "NOT_AVAILABLE_TRANSFER",
    }
)
_FAILURES = frozenset({"ERROR", "SYSTEM", "TIMEOUT", "TRANSPORT_FAILURE", "UNCALLABLE"})


def adapt(raw: bytes) -> list[Event]:
    envelope = Fields.of(decode_json(raw), "event")
    notification = envelope.child("detail") or envelope
    topic = notification.text("topicName") or envelope.text("detail-type") or ""
    match = _TOPIC.fullmatch(topic)
    if match is None:
        raise AdapterError(UNSUPPORTED, f"topic {topic!r} is not a conversation detail event")
    handler = _HANDLERS.get(match.group(2))
    if handler is None:
        return []
    body = notification.require_child("eventBody")
    if (body.text("disconnectType") or "").upper() == "SPAM":
        return []
    contact = Contact(
        source=SOURCE,
        interaction_id=body.require_text("conversationId"),
        customer_id=_customer_id(body),
        channel=_channel(body),
        queue_id=body.text("queueId"),
        agent_id=body.text("userId") or body.text("answeredUserId"),
    )
    at = body.epoch_time("eventTime", 1000)
    if at is None:
        raise AdapterError(MISSING_FIELD, f"{body.where('eventTime')} is missing")
    return validated(handler(body, contact, at))


def _customer_id(body: Fields) -> str | None:
    """The external contact, else the customer's address: ANI inbound, DNIS outbound; else
    None, the conversation's anonymous key."""
    outbound = (body.text("direction") or "").upper() == "OUTBOUND"
    contacts = body.items("conversationExternalContactIds")
    address_keys = ("dnis", "addressTo") if outbound else ("ani", "addressFrom")
    candidates = [
        body.text("externalContactId"),
        contacts[0] if contacts and isinstance(contacts[0], str) else None,
        *(body.text(key) for key in address_keys),
    ]
    found = next((candidate for candidate in candidates if candidate), None)
    return None if found is None else re.sub(r"^(tel|sip):", "", found) or None


def _channel(body: Fields) -> Channel | None:
    media = (body.text("mediaType") or "").upper()
    if media == "MESSAGE":
        return _MESSAGES.get((body.text("messageType") or "").upper())
    return _MEDIA.get(media)


def _session(body: Fields, at: datetime) -> str:
    return body.text("sessionId") or at.isoformat()


def _customer_start(body: Fields, contact: Contact, at: datetime) -> list[dict[str, Any]]:
    outbound = (body.text("direction") or "").upper() == "OUTBOUND"
    return [
        contact.event("interaction.started", at, direction="outbound" if outbound else "inbound")
    ]


def _acd_end(body: Fields, contact: Contact, at: datetime) -> list[dict[str, Any]]:
    """``connectedDurationMs`` of the ACD segment is the time spent in queue."""
    waited = seconds(body.number("connectedDurationMs"))
    outcome = (body.text("acdOutcome") or "").upper()
    if outcome == "ANSWERED":
        return [contact.event("interaction.connected", at, wait_seconds=waited)]
    if outcome == "ABANDON":
        return [
            contact.event("interaction.ended", at, outcome=Outcome.ABANDONED, wait_seconds=waited)
        ]
    if outcome == "FLOW_OUT":
        return [contact.event("interaction.transferred", at, _session(body, at))]
    return []


def _user_end(body: Fields, contact: Contact, at: datetime) -> list[dict[str, Any]]:
    events = []
    held = seconds(body.number("heldDurationMs"))
    if held:
        events.append(contact.event("interaction.held", at, _session(body, at), hold_seconds=held))
    if (body.text("disconnectType") or "").upper() in _TRANSFERS:
        events.append(contact.event("interaction.transferred", at, _session(body, at)))
    return events


def _acw(body: Fields, contact: Contact, at: datetime) -> list[dict[str, Any]]:
    notes = note_text(body.text("wrapupNotes"))
    if notes is None:
        return []
    return [
        contact.event(
            "conversation.note", at, _session(body, at), text=notes, author=NoteAuthor.AGENT
        )
    ]


def _customer_end(body: Fields, contact: Contact, at: datetime) -> list[dict[str, Any]]:
    """Transfer disconnects -> escalated; system failures -> unresolved; otherwise resolved.
    Abandons are told by acd.end; both give the conversation's one ``ended`` id, so the
    pipeline keeps whichever is delivered first (docs/adapters.md discusses the race)."""
    disconnect = (body.text("disconnectType") or "").upper()
    if disconnect in _TRANSFERS:
        outcome = Outcome.ESCALATED
    elif disconnect in _FAILURES:
        outcome = Outcome.UNRESOLVED
    else:
        outcome = Outcome.RESOLVED
    return [
        contact.event(
            "interaction.ended",
            at,
            outcome=outcome,
            handle_seconds=seconds(body.number("interactingDurationMs")),
        )
    ]


_HANDLERS: dict[str, Callable[[Fields, Contact, datetime], list[dict[str, Any]]]] = {
    "customer.start": _customer_start,
    "acd.end": _acd_end,
    "user.end": _user_end,
    "acw": _acw,
    "customer.end": _customer_end,
}
