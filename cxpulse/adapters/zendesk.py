"""Zendesk ticket event webhooks, and satisfaction ratings.

Ticket events arrive in Zendesk's event envelope (``type: zen:event-type:ticket.*``, ``id``,
``time``, ``subject``, ``detail`` = the ticket, ``event`` = what changed).  The interaction
is the ticket, on its ``via.channel``; the customer is the ticket's requester (a ticket
without one gets the ticket's anonymous key).  Mapped types:

* ``ticket.created`` -> started;
* ``ticket.agent_assignment_changed`` -> connected (first assignee) or transferred (re-assigned);
* ``ticket.group_assignment_changed`` -> transferred (moved from one group to another);
* ``ticket.status_changed`` -> ended as resolved (SOLVED or CLOSED), held (HOLD);
* ``ticket.comment_added`` -> conversation.note (by the customer or an agent).

Ticket event webhooks carry no satisfaction data, so a rating is read from a Satisfaction
Ratings API object (``{"satisfaction_rating": {...}}``), sent by a trigger-connected webhook
or a relay: ``good`` -> csat 5, ``bad`` -> csat 1, a numeric score as is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cxpulse.adapters.base import (
    INVALID_VALUE,
    MISSING_FIELD,
    UNSUPPORTED,
    AdapterError,
    Contact,
    Fields,
    decode_json,
    note_text,
    validated,
)
from cxpulse.schemas.events import Channel, Event, NoteAuthor, Outcome

SOURCE = "zendesk"
EVENT_PREFIX = "zen:event-type:"

_CHANNELS = {
    "email": Channel.EMAIL,
    "web": Channel.EMAIL,
    "api": Channel.EMAIL,
    "chat": Channel.CHAT,
    "native_messaging": Channel.CHAT,
    "mobile_sdk": Channel.CHAT,
    "voice": Channel.VOICE,
    "sms": Channel.SMS,
    "facebook": Channel.SOCIAL,
    "twitter": Channel.SOCIAL,
    "whatsapp": Channel.SOCIAL,
    "instagram_dm": Channel.SOCIAL,
}

_SCORES = {"good": 5, "bad": 1}


def adapt(raw: bytes) -> list[Event]:
    payload = Fields.of(decode_json(raw), "payload")
    rating = payload.child("satisfaction_rating")
    if rating is not None:
        return validated(_rating(rating))
    kind = payload.text("type") or ""
    if not kind.startswith(EVENT_PREFIX):
        raise AdapterError(UNSUPPORTED, f"type {kind!r} is not a Zendesk event")
    handler = _HANDLERS.get(kind.removeprefix(EVENT_PREFIX))
    if handler is None:
        return []
    ticket = payload.require_child("detail")
    via = ticket.child("via")
    contact = Contact(
        source=SOURCE,
        interaction_id=ticket.require_text("id"),
        customer_id=ticket.text("requester_id"),
        channel=_CHANNELS.get((via.text("channel") or "").casefold()) if via else None,
        queue_id=ticket.text("group_id"),
        agent_id=ticket.text("assignee_id"),
    )
    at = payload.iso_time("time")
    if at is None:
        raise AdapterError(MISSING_FIELD, f"{payload.where('time')} is missing")
    change = payload.child("event") or Fields({}, payload.where("event"))
    return validated(handler(payload, ticket, change, contact, at))


Handler = Callable[[Fields, Fields, Fields, Contact, datetime], list[dict[str, Any]]]


def _created(
    _: Fields, ticket: Fields, __: Fields, contact: Contact, at: datetime
) -> list[dict[str, Any]]:
    return [contact.event("interaction.started", ticket.iso_time("created_at") or at)]


def _agent_assigned(
    payload: Fields, ticket: Fields, change: Fields, contact: Contact, at: datetime
) -> list[dict[str, Any]]:
    """The first assignee connects the ticket (waited since creation); a later one is a
    transfer."""
    current = change.text("current")
    if current is None:
        return []
    if change.text("previous") is None:
        created = ticket.iso_time("created_at")
        waited = (at - created).total_seconds() if created else None
        return [contact.event("interaction.connected", at, agent_id=current, wait_seconds=waited)]
    return [
        contact.event(
            "interaction.transferred", at, payload.require_text("id"), to_agent_id=current
        )
    ]


def _group_assigned(
    payload: Fields, _: Fields, change: Fields, contact: Contact, at: datetime
) -> list[dict[str, Any]]:
    current = change.text("current")
    if current is None or change.text("previous") is None:
        return []
    return [
        contact.event(
            "interaction.transferred", at, payload.require_text("id"), to_queue_id=current
        )
    ]


def _status_changed(
    payload: Fields, _: Fields, change: Fields, contact: Contact, at: datetime
) -> list[dict[str, Any]]:
    """Solved (or closed) ends the ticket once: the id depends on the ticket only, so a
    reopened and re-solved ticket keeps its first resolution."""
    status = (change.text("current") or "").upper()
    if status in {"SOLVED", "CLOSED"}:
        return [contact.event("interaction.ended", at, outcome=Outcome.RESOLVED)]
    if status == "HOLD":
        return [contact.event("interaction.held", at, payload.require_text("id"))]
    return []


def _comment_added(
    _: Fields, __: Fields, change: Fields, contact: Contact, at: datetime
) -> list[dict[str, Any]]:
    comment = change.require_child("comment")
    text = note_text(comment.text("body"))
    if text is None:
        return []
    author = comment.child("author")
    by_staff = author is not None and author.raw("is_staff") is True
    return [
        contact.event(
            "conversation.note",
            at,
            comment.require_text("id"),
            text=text,
            author=NoteAuthor.AGENT if by_staff else NoteAuthor.CUSTOMER,
        )
    ]


def _rating(rating: Fields) -> list[dict[str, Any]]:
    """``offered`` / ``unoffered`` are surveys not yet answered: no event."""
    score = (rating.text("score") or "").casefold()
    if score in {"offered", "unoffered"}:
        return []
    numeric = score.isascii() and score.isdecimal() and len(score) <= 3
    csat = _SCORES.get(score) or (int(score) if numeric else None)
    if csat is None:
        raise AdapterError(INVALID_VALUE, f"{rating.where('score')} is not a rating: {score!r}")
    contact = Contact(
        source=SOURCE,
        interaction_id=rating.require_text("ticket_id"),
        customer_id=rating.text("requester_id"),
        queue_id=rating.text("group_id"),
        agent_id=rating.text("assignee_id"),
    )
    at = rating.iso_time("updated_at") or rating.iso_time("created_at")
    if at is None:
        raise AdapterError(MISSING_FIELD, f"{rating.where('updated_at')} is missing")
    fields: dict[str, Any] = {"csat": csat, "comment": note_text(rating.text("comment"))}
    return [contact.event("feedback.received", at, **fields)]


_HANDLERS: dict[str, Handler] = {
    "ticket.created": _created,
    "ticket.agent_assignment_changed": _agent_assigned,
    "ticket.group_assignment_changed": _group_assigned,
    "ticket.status_changed": _status_changed,
    "ticket.comment_added": _comment_added,
}
