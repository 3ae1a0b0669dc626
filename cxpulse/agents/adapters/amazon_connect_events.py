"""Amazon Connect contact events, as EventBridge delivers them.

The envelope is EventBridge's (``detail-type: "Amazon Connect Contact Event"``,
``source: "aws.connect"``, ``time``) and the contact is in ``detail``.  INITIATED,
CONNECTED_TO_AGENT and DISCONNECTED map to started, connected and ended; the other types
(QUEUED, CONNECTED_TO_SYSTEM, CONTACT_DATA_UPDATED, COMPLETED, ...) carry nothing the
contract models and map to no event.  Event ids match the contact-record adapter's, so the
two feeds deduplicate against each other.

Contact events carry no customer reference of their own: set a contact tag ``customerId``
in the flow (a ``customerEndpoint.address`` is used when present).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cxpulse.agents.adapters.base import (
    MISSING_FIELD,
    UNMAPPABLE,
    UNSUPPORTED,
    AdapterError,
    Contact,
    Fields,
    decode_json,
    last_segment,
    validated,
)
from cxpulse.agents.adapters.connect_common import SOURCE, channel_of, direction_of, outcome_of
from cxpulse.schemas.events import Event

DETAIL_TYPE = "Amazon Connect Contact Event"


def adapt(raw: bytes) -> list[Event]:
    envelope = Fields.of(decode_json(raw), "event")
    detail_type = envelope.text("detail-type")
    if detail_type != DETAIL_TYPE:
        raise AdapterError(UNSUPPORTED, f"detail-type is {detail_type!r}, expected {DETAIL_TYPE!r}")
    detail = envelope.require_child("detail")
    handler = _HANDLERS.get(detail.require_text("eventType").upper())
    if handler is None:
        return []
    queue = detail.child("queueInfo")
    agent = detail.child("agentInfo")
    contact = Contact(
        source=SOURCE,
        interaction_id=detail.require_text("contactId"),
        customer_id=_customer_id(detail),
        channel=channel_of(detail.text("channel")),
        queue_id=_arn_id(queue, "queueArn"),
        agent_id=_arn_id(agent, "agentArn"),
    )
    sent_at = envelope.iso_time("time")
    return validated([handler(detail, contact, sent_at)])


def _customer_id(detail: Fields) -> str:
    tags = detail.child("tags")
    endpoint = detail.child("customerEndpoint")
    found = (tags.text("customerId") if tags else None) or (
        endpoint.text("address") if endpoint else None
    )
    if found is None:
        raise AdapterError(
            UNMAPPABLE,
            "contact event names no customer: set a 'customerId' contact tag in the flow",
        )
    return found


def _arn_id(info: Fields | None, key: str) -> str | None:
    arn = info.text(key) if info else None
    return last_segment(arn) if arn else None


def _at(info: Fields | None, key: str, fallback: datetime | None, where: str) -> datetime:
    """The time in ``info[key]``, else the EventBridge envelope's ``time``."""
    found = (info.iso_time(key) if info else None) or fallback
    if found is None:
        raise AdapterError(MISSING_FIELD, f"{where}.{key} is missing and so is time")
    return found


def _started(detail: Fields, contact: Contact, sent_at: datetime | None) -> dict[str, Any]:
    return contact.event(
        "interaction.started",
        _at(detail, "initiationTimestamp", sent_at, "detail"),
        direction=direction_of(detail.text("initiationMethod")),
    )


def _wait(queue: Fields | None, until: datetime | None) -> float | None:
    enqueued = queue.iso_time("enqueueTimestamp") if queue else None
    if enqueued is None or until is None:
        return None
    return (until - enqueued).total_seconds()


def _connected(detail: Fields, contact: Contact, sent_at: datetime | None) -> dict[str, Any]:
    agent = detail.child("agentInfo")
    connected_at = _at(agent, "connectedToAgentTimestamp", sent_at, "detail.agentInfo")
    return contact.event(
        "interaction.connected",
        connected_at,
        wait_seconds=_wait(detail.child("queueInfo"), connected_at),
    )


def _ended(detail: Fields, contact: Contact, sent_at: datetime | None) -> dict[str, Any]:
    ended_at = _at(detail, "disconnectTimestamp", sent_at, "detail")
    queue = detail.child("queueInfo")
    agent = detail.child("agentInfo")
    connected_at = agent.iso_time("connectedToAgentTimestamp") if agent else None
    outcome = outcome_of(
        agent_connected=connected_at is not None,
        queued=queue is not None,
        disconnect_reason=detail.text("disconnectReason"),
        transferred=False,
        stated=None,
    )
    return contact.event(
        "interaction.ended",
        ended_at,
        outcome=outcome,
        wait_seconds=_wait(queue, connected_at or ended_at),
        handle_seconds=(ended_at - connected_at).total_seconds() if connected_at else None,
    )


_HANDLERS: dict[str, Callable[[Fields, Contact, datetime | None], dict[str, Any]]] = {
    "INITIATED": _started,
    "CONNECTED_TO_AGENT": _connected,
    "DISCONNECTED": _ended,
}
