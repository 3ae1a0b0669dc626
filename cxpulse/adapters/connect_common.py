"""What the two Amazon Connect adapters (contact records, contact events) share.

Both emit ``source = "amazon-connect"`` and derive event ids from the ContactId and the event
kind only, so a team that streams both feeds gets each fact once: the record's ``ended`` and
the DISCONNECTED event's ``ended`` have the same id.  Queues and agents are identified by the
id at the end of their ARN, the one identifier both feeds carry.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from cxpulse.adapters.base import Contact
from cxpulse.schemas.events import Channel, Outcome

SOURCE = "amazon-connect"

_CHANNELS = {"VOICE": Channel.VOICE, "CHAT": Channel.CHAT, "EMAIL": Channel.EMAIL}

#: Contacts that are a transfer leg of the previous contact (its ``PreviousContactId``).
TRANSFER_METHODS = frozenset({"TRANSFER", "QUEUE_TRANSFER"})


def transfer_leg(contact: Contact, previous: str, at: datetime) -> dict[str, Any]:
    """The ``interaction.transferred`` of ``previous``, the contact this one is a transfer
    leg of (its ``PreviousContactId``): handed on to this contact's queue and agent."""
    leg = replace(contact, interaction_id=previous, queue_id=None, agent_id=None)
    return leg.event(
        "interaction.transferred", at, to_queue_id=contact.queue_id, to_agent_id=contact.agent_id
    )


def channel_of(value: str | None) -> Channel | None:
    """VOICE, CHAT and EMAIL map one to one; TASK (back-office work) has no channel."""
    return _CHANNELS.get((value or "").upper())


def direction_of(initiation_method: str | None) -> str:
    return "outbound" if (initiation_method or "").upper() == "OUTBOUND" else "inbound"


def is_failure(disconnect_reason: str | None) -> bool:
    """Telephony and dialling failures, and contacts that expired before being served."""
    reason = (disconnect_reason or "").upper()
    return reason.startswith(("TELECOM_", "OUTBOUND_")) or reason == "EXPIRED"


def outcome_of(
    *,
    agent_connected: bool,
    queued: bool,
    disconnect_reason: str | None,
    transferred: bool,
    stated: Outcome | None,
) -> Outcome:
    """The outcome rules, in order (docs/adapters.md repeats them).

    1. a ``cxpulse_outcome`` contact attribute wins;
    2. transferred to another contact or endpoint -> escalated;
    3. a telephony failure or expiry -> unresolved;
    4. connected to an agent -> resolved;
    5. queued but never connected to an agent -> abandoned;
    6. never queued (self-service in the flow) -> resolved.
    """
    if stated is not None:
        return stated
    if transferred:
        return Outcome.ESCALATED
    if is_failure(disconnect_reason):
        return Outcome.UNRESOLVED
    if agent_connected:
        return Outcome.RESOLVED
    if queued:
        return Outcome.ABANDONED
    return Outcome.RESOLVED
