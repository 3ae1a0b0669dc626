"""Amazon Connect contact events and Contact Lens analysis, as EventBridge / Kinesis deliver them.

Three payload kinds share this source (docs/adapters.md):

* EventBridge ``Amazon Connect Contact Event`` (``source: "aws.connect"``, ``time``, the
  contact in ``detail``): INITIATED, CONNECTED_TO_AGENT, DISCONNECTED and COMPLETED map to
  started (+ the previous contact's transferred, for a transfer leg), connected, ended and
  ended + held; QUEUED, CONNECTED_TO_SYSTEM, CONTACT_DATA_UPDATED, ... map to no event.
  Event ids match the contact-record adapter's, so the two feeds deduplicate each other.
* EventBridge ``Contact Lens ... Rules Matched`` events: a ``conversation.note`` naming the
  rule (the event says which rule matched, not what was said or how it felt).
* Contact Lens real-time analysis segment stream records (Kinesis, ``EventType``
  SEGMENTS): one ``sentiment.observed`` per transcript segment with a sentiment and an
  absolute time; STARTED, COMPLETED and FAILED map to no event.

Contact events carry no customer reference of their own: set a contact tag ``customerId``
in the flow (a ``customerEndpoint.address`` is used when present).  Without either, and
always for Contact Lens payloads (they name only the contact), events get the contact's
anonymous key.
"""

from __future__ import annotations

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
    first_identity,
    last_segment,
    note_text,
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
from cxpulse.schemas.events import Event, NoteAuthor, Speaker

DETAIL_TYPE = "Amazon Connect Contact Event"
#: Contact Lens rule events: "Contact Lens Realtime Rules Matched", "... Post Call ...", ...
RULES_MATCHED = ("Contact Lens ", " Rules Matched")

#: Contact Lens sentiment labels as scores.  MIXED is neither way.
SENTIMENT_SCORES = {"POSITIVE": 1.0, "NEUTRAL": 0.0, "MIXED": 0.0, "NEGATIVE": -1.0}
_SPEAKERS = {"CUSTOMER": Speaker.CUSTOMER, "AGENT": Speaker.AGENT}


def adapt(raw: bytes) -> list[Event]:
    envelope = Fields.of(decode_json(raw), "event")
    detail_type = envelope.text("detail-type")
    if detail_type is None and envelope.text("EventType") and envelope.text("ContactId"):
        return validated(_segments(envelope))
    if (
        detail_type
        and detail_type.startswith(RULES_MATCHED[0])
        and detail_type.endswith(RULES_MATCHED[1])
    ):
        return validated(_rule_matched(envelope, detail_type))
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
    return validated(handler(detail, contact, sent_at))


def _customer_id(detail: Fields) -> str | None:
    """A ``customerId`` contact tag, else the customer endpoint's address; else None, the
    contact's anonymous key."""
    tags = detail.child("tags")
    endpoint = detail.child("customerEndpoint")
    return first_identity(
        (
            tags.text("customerId") if tags else None,
            endpoint.text("address") if endpoint else None,
        )
    )


def _arn_id(info: Fields | None, key: str) -> str | None:
    arn = info.text(key) if info else None
    return last_segment(arn) if arn else None


def _at(info: Fields | None, key: str, fallback: datetime | None, where: str) -> datetime:
    """The time in ``info[key]``, else the EventBridge envelope's ``time``."""
    found = (info.iso_time(key) if info else None) or fallback
    if found is None:
        raise AdapterError(MISSING_FIELD, f"{where}.{key} is missing and so is time")
    return found


def _started(detail: Fields, contact: Contact, sent_at: datetime | None) -> list[dict[str, Any]]:
    """A transfer leg (initiation method TRANSFER / QUEUE_TRANSFER) also tells the previous
    contact's transfer, with the id the contact records give it."""
    started_at = _at(detail, "initiationTimestamp", sent_at, "detail")
    method = (detail.text("initiationMethod") or "").upper()
    events = [contact.event("interaction.started", started_at, direction=direction_of(method))]
    previous = detail.text("previousContactId")
    if method in TRANSFER_METHODS and previous:
        events.append(transfer_leg(contact, previous, started_at))
    return events


def _wait(queue: Fields | None, until: datetime | None) -> float | None:
    enqueued = queue.iso_time("enqueueTimestamp") if queue else None
    if enqueued is None or until is None:
        return None
    return (until - enqueued).total_seconds()


def _connected(detail: Fields, contact: Contact, sent_at: datetime | None) -> list[dict[str, Any]]:
    agent = detail.child("agentInfo")
    connected_at = _at(agent, "connectedToAgentTimestamp", sent_at, "detail.agentInfo")
    return [
        contact.event(
            "interaction.connected",
            connected_at,
            wait_seconds=_wait(detail.child("queueInfo"), connected_at),
        )
    ]


def _ended(detail: Fields, contact: Contact, sent_at: datetime | None) -> list[dict[str, Any]]:
    """handle = disconnect - connected: talk and hold, not after-contact work (the table in
    docs/adapters.md).  ``agentInfo.agentInitiatedHoldDuration`` is the hold, when given."""
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
    return [
        contact.event(
            "interaction.ended",
            ended_at,
            outcome=outcome,
            wait_seconds=_wait(queue, connected_at or ended_at),
            handle_seconds=(ended_at - connected_at).total_seconds() if connected_at else None,
            hold_seconds=agent.number("agentInitiatedHoldDuration") if agent else None,
        )
    ]


def _completed(detail: Fields, contact: Contact, sent_at: datetime | None) -> list[dict[str, Any]]:
    """COMPLETED follows DISCONNECTED once after-contact work is done, with the same contact
    data plus the agent's hold and after-contact work.  Its ``ended`` has DISCONNECTED's id
    (whichever arrives first is scored: a lost DISCONNECTED is made good); a hold becomes
    the contact's first ``held`` (the id a contact record gives its first hold)."""
    events = _ended(detail, contact, sent_at)
    agent = detail.child("agentInfo")
    hold = agent.number("agentInitiatedHoldDuration") if agent else None
    if hold:
        connected_at = agent.iso_time("connectedToAgentTimestamp") if agent else None
        at = connected_at or events[0]["occurred_at"]
        events.insert(0, contact.event("interaction.held", at, "0", hold_seconds=hold))
    return events


def _rule_matched(envelope: Fields, detail_type: str) -> list[dict[str, Any]]:
    """A matched Contact Lens rule as a transcript note on its contact: the rule's name says
    what was detected (``CustomerWantsToCancel``), and the conversation reader hears it."""
    detail = envelope.require_child("detail")
    contact_arn = detail.require_text("contactArn")
    rule = detail.require_text("ruleName")
    at = envelope.iso_time("time")
    if at is None:
        raise AdapterError(MISSING_FIELD, f"{envelope.where('time')} is missing")
    contact = Contact(
        source=SOURCE,
        interaction_id=last_segment(contact_arn),
        customer_id=None,
        queue_id=_arn_id(detail, "queueArn"),
        agent_id=_arn_id(detail, "agentArn"),
    )
    kind = detail_type.removeprefix(RULES_MATCHED[0]).removesuffix(RULES_MATCHED[1])
    text = note_text(f"Contact Lens {kind.lower()} rule matched: {rule}")
    return [
        contact.event(
            "conversation.note", at, "rule", rule, text=text, author=NoteAuthor.TRANSCRIPT
        )
    ]


def _segments(record: Fields) -> list[dict[str, Any]]:
    """Contact Lens real-time analysis: each transcript segment with a sentiment and an
    absolute time (``Time.AbsoluteTime``) is a ``sentiment.observed`` by its speaker
    (POSITIVE 1, NEUTRAL and MIXED 0, NEGATIVE -1).  Segments with only offsets into the
    call (voice) have no event time and map to none."""
    if (record.text("EventType") or "").upper() != "SEGMENTS":
        return []
    contact = Contact(
        source=SOURCE,
        interaction_id=record.require_text("ContactId"),
        customer_id=None,
        channel=channel_of(record.text("Channel")),
    )
    events = []
    for index, item in enumerate(record.items("Segments")):
        transcript = Fields.of(item, f"{record.where('Segments')}[{index}]").child("Transcript")
        if transcript is None:
            continue
        score = SENTIMENT_SCORES.get((transcript.text("Sentiment") or "").upper())
        who = _SPEAKERS.get((transcript.text("ParticipantRole") or "").upper())
        time = transcript.child("Time")
        at = time.iso_time("AbsoluteTime") if time else None
        if score is None or who is None or at is None:
            continue
        segment_id = transcript.require_text("Id")
        events.append(
            contact.event("sentiment.observed", at, "segment", segment_id, score=score, who=who)
        )
    return events


_HANDLERS: dict[str, Callable[[Fields, Contact, datetime | None], list[dict[str, Any]]]] = {
    "INITIATED": _started,
    "CONNECTED_TO_AGENT": _connected,
    "DISCONNECTED": _ended,
    "COMPLETED": _completed,
}
