"""Contacts without a known customer: scored for their agent, queue and service only.

A platform that names no customer for a contact (an untagged Amazon Connect contact, a chat
without an endpoint, ...) still tells how an agent, a queue and the service did.  The vendor
adapters give such a contact a contact-scoped key, ``anon:<source>:<contact id>``, so it is
scored like any other; this module is the one place that knows the key's form.  A customer
made of one anonymous contact is not a person anyone can call back: its customer alerts,
customer snapshots and customer-level metrics are dropped (``without_customer_outputs``),
while the interaction summaries that feed the agent, queue and service scores flow on.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from cxpulse.schemas.outputs import EntityType
from cxpulse.scoring.emitted import Emitted
from cxpulse.scoring.summary import HELD

#: Every anonymous customer key starts with this.
ANONYMOUS_PREFIX = "anon:"

#: Customer keys are ids of at most this many characters (the contract's ``Id``).
_MAX_KEY_CHARS = 128


def anonymous_customer(source: str, contact_id: str) -> str:
    """The customer key of a contact whose customer is unknown: ``anon:<source>:<contact>``.

    A contact id too long for the key is replaced by its SHA-256 (still one key per
    contact, the same every time)."""
    key = f"{ANONYMOUS_PREFIX}{source}:{contact_id}"
    if len(key) <= _MAX_KEY_CHARS:
        return key
    return f"{ANONYMOUS_PREFIX}{source}:sha256:{hashlib.sha256(contact_id.encode()).hexdigest()}"


def is_anonymous(customer_id: str) -> bool:
    return customer_id.startswith(ANONYMOUS_PREFIX)


def without_customer_outputs(emitted: Emitted) -> Emitted:
    """``emitted`` less what is about the customer as a person: customer alerts (also those
    held for a queue), customer snapshots, loyalty changes, the customer's consistency and
    dazzle balance.  Interaction summaries and insights stay."""
    customer = EntityType.CUSTOMER
    return replace(
        emitted,
        alerts=tuple(alert for alert in emitted.alerts if alert.entity_type != customer),
        snapshots=tuple(shot for shot in emitted.snapshots if shot.entity_type != customer),
        summaries=tuple(summary for summary in emitted.summaries if summary.kind != HELD),
        loyalty_transitions=(),
        consistency=tuple(item for item in emitted.consistency if item[0] != customer),
        dazzle_balance=None,
    )
