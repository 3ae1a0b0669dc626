"""Amazon Connect contact records (CTRs) as exported to Kinesis Data Streams / Firehose.

A contact record summarises a whole contact, so one record yields several events:
started, connected (if an agent answered), one held per hold, transferred, ended, and
feedback when survey attributes are present.

Connect delivers records at least once and re-sends a record whenever it changes (newest
``LastUpdateTimestamp`` wins).  Every event id depends on the ContactId and the event kind
only, never on the update time: a re-sent record re-produces ids the pipeline has already
seen, so nothing is counted twice, while facts that only a later version carries (a survey
written by ``update-contact-attributes``) get new ids and flow through.  The facts of the
first delivered version are the ones scored.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from cxpulse.adapters.attributes import outcome_from, survey_from
from cxpulse.adapters.base import (
    INVALID_VALUE,
    AdapterError,
    Contact,
    Fields,
    decode_json,
    first_identity,
    last_segment,
    validated,
)
from cxpulse.adapters.connect_common import (
    SOURCE,
    TRANSFER_METHODS,
    channel_of,
    direction_of,
    outcome_of,
    transfer_leg,
)
from cxpulse.schemas.events import Event

#: At most this many ``interaction.held`` events per record (NumberOfHolds can be large).
MAX_HOLD_EVENTS = 20

#: Legs that are not a customer interaction of their own: a supervisor monitoring a call,
#: and the post-contact flow started on disconnect (its survey belongs to the previous contact).
_NOT_AN_INTERACTION = frozenset({"MONITOR", "DISCONNECT"})


def adapt(raw: bytes) -> list[Event]:
    record = Fields.of(decode_json(raw), "record")
    contact_id = record.require_text("ContactId")
    method = (record.text("InitiationMethod") or "").upper()
    attributes = record.child("Attributes")
    queue = record.child("Queue")
    agent = record.child("Agent")
    contact = Contact(
        source=SOURCE,
        interaction_id=contact_id,
        customer_id=_customer_id(record, attributes),
        channel=channel_of(record.text("Channel")),
        queue_id=_resource_id(queue, "Name"),
        agent_id=_resource_id(agent, "Username"),
    )
    candidates = [] if method in _NOT_AN_INTERACTION else _interaction(record, contact, method)
    candidates += _feedback(record, contact, method, attributes)
    return validated(candidates)


def _customer_id(record: Fields, attributes: Fields | None) -> str | None:
    """The documented fallback order (docs/adapters.md): a ``customerId`` contact tag, a
    ``customerId`` user-defined attribute, the record's ``CustomerId`` (Customer Profiles /
    CRM id), the customer endpoint's address (phone number, email address); else None, the
    contact's anonymous key."""
    tags = record.child("Tags")
    endpoint = record.child("CustomerEndpoint")
    return first_identity(
        (
            tags.text("customerId") if tags else None,
            attributes.text("customerId") if attributes else None,
            record.text("CustomerId"),
            endpoint.text("Address") if endpoint else None,
        )
    )


def _resource_id(resource: Fields | None, name_key: str) -> str | None:
    """The id at the end of the resource ARN, else its name."""
    if resource is None:
        return None
    arn = resource.text("ARN")
    return last_segment(arn) if arn else resource.text(name_key)


def _interaction(record: Fields, contact: Contact, method: str) -> list[dict[str, Any]]:
    started_at = record.iso_time("InitiationTimestamp")
    ended_at = record.iso_time("DisconnectTimestamp")
    queue = record.child("Queue")
    agent = record.child("Agent")
    connected_at = agent.iso_time("ConnectedToAgentTimestamp") if agent else None
    wait = queue.number("Duration") if queue else None
    events: list[dict[str, Any]] = []
    if started_at is not None:
        events.append(
            contact.event("interaction.started", started_at, direction=direction_of(method))
        )
    if agent is not None and connected_at is not None:
        events.append(contact.event("interaction.connected", connected_at, wait_seconds=wait))
        events += _holds(agent, contact, connected_at)
    events += _transfers(record, contact, method, started_at)
    if ended_at is not None:
        events.append(_ended(record, contact, ended_at, connected_at is not None, wait))
    return events


def _holds(agent: Fields, contact: Contact, connected_at: datetime) -> list[dict[str, Any]]:
    """One event per hold; the record has hold totals but no hold times, so holds are
    stamped at the connect time and only a single hold can carry its exact duration."""
    holds = agent.integer("NumberOfHolds") or 0
    if holds < 0:
        raise AdapterError(INVALID_VALUE, f"{agent.where('NumberOfHolds')} is negative: {holds}")
    count = min(holds, MAX_HOLD_EVENTS)
    total = agent.number("CustomerHoldDuration") if count == 1 else None
    return [
        contact.event("interaction.held", connected_at, str(index), hold_seconds=total)
        for index in range(count)
    ]


def _transfers(
    record: Fields, contact: Contact, method: str, started_at: datetime | None
) -> list[dict[str, Any]]:
    """A transferred contact tells its own transfer (to an external number, or to a next
    contact); the new contact's record tells it too, naming the previous contact and the
    target.  Both give the transferred contact's one ``transferred`` id, so the chain is
    counted once whichever record arrives first."""
    events: list[dict[str, Any]] = []
    if _transferred_out(record):
        at = (
            record.iso_time("TransferCompletedTimestamp")
            or record.iso_time("DisconnectTimestamp")
            or started_at
        )
        if at is not None:
            events.append(contact.event("interaction.transferred", at))
    previous = record.text("PreviousContactId")
    if method in TRANSFER_METHODS and previous and started_at is not None:
        events.append(transfer_leg(contact, previous, started_at))
    return events


def _transferred_out(record: Fields) -> bool:
    """Handed on: to an external number (``TransferCompletedTimestamp``, a
    ``TransferredToEndpoint``), or to a next contact that the agent side started (a next
    contact after the customer hung up is the post-contact flow, not a transfer)."""
    if record.iso_time("TransferCompletedTimestamp") is not None:
        return True
    endpoint = record.child("TransferredToEndpoint")
    if endpoint is not None and endpoint.text("Address") is not None:
        return True
    reason = (record.text("DisconnectReason") or "").upper()
    return record.text("NextContactId") is not None and reason != "CUSTOMER_DISCONNECT"


def _ended(
    record: Fields, contact: Contact, ended_at: datetime, agent_connected: bool, wait: float | None
) -> dict[str, Any]:
    agent = record.child("Agent")
    transferred = _transferred_out(record)
    interaction = agent.number("AgentInteractionDuration") if agent else None
    hold = agent.number("CustomerHoldDuration") if agent else None
    outcome = outcome_of(
        agent_connected=agent_connected,
        queued=record.child("Queue") is not None,
        disconnect_reason=record.text("DisconnectReason"),
        transferred=transferred,
        stated=outcome_from(record.child("Attributes")),
    )
    return contact.event(
        "interaction.ended",
        ended_at,
        outcome=outcome,
        wait_seconds=wait,
        handle_seconds=None if interaction is None else interaction + (hold or 0),
        hold_seconds=hold,
        transfers=1 if transferred else 0,
    )


def _feedback(
    record: Fields, contact: Contact, method: str, attributes: Fields | None
) -> list[dict[str, Any]]:
    """Survey attributes; on a post-contact (DISCONNECT) leg they rate the previous contact.
    Stamped with the record's last update: surveys are usually written after the contact."""
    survey = survey_from(attributes)
    recorded_at = record.iso_time("LastUpdateTimestamp") or record.iso_time("DisconnectTimestamp")
    if not survey or recorded_at is None:
        return []
    previous = record.text("PreviousContactId")
    if method == "DISCONNECT" and previous:
        contact = replace(contact, interaction_id=previous)
    return [contact.event("feedback.received", recorded_at, **survey)]
