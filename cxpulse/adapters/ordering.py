"""The Kafka key of a raw platform payload: the contact (interaction) it is about.

An adapter reads its raw topic partition by partition and forwards each payload's events
to their customer's lane.  Payloads of one contact spread over several raw partitions can
therefore be scored out of order (a task's completion before the agent accepted it, which
the customer side then counts as a late connect).  Keyed by their contact, they share a
partition and keep the order in which they were written.  The key is only a routing hint:
a payload whose contact cannot be found cheaply gets none, and the adapter still maps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import orjson

#: Per source, the paths (keys from the top of the payload) that name its contact, tried
#: in order; the last segment of an ARN counts as its id.
_PATHS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "amazon-connect-events": (
        ("detail", "initialContactId"),  # a transfer's legs keep one order
        ("detail", "contactId"),
        ("detail", "contactArn"),  # Contact Lens rules matched
        ("ContactId",),  # Contact Lens real-time segment records
    ),
    "amazon-connect-ctr": (("InitialContactId",), ("ContactId",)),
    "genesys-cloud": (("detail", "eventBody", "conversationId"), ("eventBody", "conversationId")),
    "twilio-taskrouter": (
        ("TaskSid",),
        ("data", "payload", "task_sid"),  # Event Streams CloudEvents
    ),
    "zendesk": (("detail", "id"), ("satisfaction_rating", "ticket_id")),
}


def ordering_key(source: str, body: bytes) -> bytes | None:
    """The contact ``body`` (a webhook payload of ``source``) is about, or None."""
    paths = _PATHS.get(source)
    if not paths:
        return None
    document = _document(body)
    if not isinstance(document, dict):
        return None
    for path in paths:
        found = _at(document, path)
        if isinstance(found, int) and not isinstance(found, bool):
            found = str(found)
        if isinstance(found, str) and found:
            return found.rpartition("/")[2].encode()
    return None


def _document(body: bytes) -> Any:
    stripped = body.lstrip()
    if stripped.startswith((b"{", b"[")):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
    try:  # a form-encoded callback (Twilio TaskRouter)
        form = parse_qs(body.decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in form.items() if values}


def _at(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    found: Any = document
    for name in path:
        if not isinstance(found, dict):
            return None
        found = found.get(name)
    return found
