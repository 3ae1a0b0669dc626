"""The body of ``POST /v1/events``: one event, a JSON array of events, or NDJSON.

Each event is checked by ``cxpulse.edge.decode.decode_event``, the very function of the
Kafka edge, so an event gets here the verdict (and, rejected, the reason code, message and
field details) its dead letter would carry there.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson

from cxpulse.edge.decode import Rejection, decode_event
from cxpulse.schemas.events import Event

NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})


@dataclass(frozen=True)
class Item:
    """One event of the body: its bytes (what goes to Kafka) and the verdict."""

    raw: bytes
    result: Event | Rejection


def split_body(body: bytes, content_type: str) -> list[bytes] | Rejection:
    """The events of a body, each as JSON bytes; a Rejection if the body is no array.

    NDJSON (by content type): one event per non-blank line.  Otherwise a body whose first
    non-blank character is ``[`` is a JSON array, whose elements are re-serialised, and any
    other body is one event.
    """
    if content_type in NDJSON_TYPES:
        return [line for line in body.split(b"\n") if line.strip()]
    if body.lstrip()[:1] == b"[":
        try:
            elements = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as bad:
                return Rejection(
                    "invalid_encoding", f"payload is not UTF-8: {bad.reason} at byte {bad.start}"
                )
            return Rejection("invalid_json", f"the body is not a valid JSON array: {exc}")
        return [orjson.dumps(element) for element in elements]
    return [body]


def parse_events(body: bytes, content_type: str, max_event_bytes: int) -> list[Item] | Rejection:
    parts = split_body(body, content_type)
    if isinstance(parts, Rejection):
        return parts
    return [Item(raw, decode_event(raw, max_event_bytes)) for raw in parts]


async def parse_events_yielding(
    body: bytes, content_type: str, max_event_bytes: int, per_turn: int = 100
) -> list[Item] | Rejection:
    """``parse_events``, giving the event loop a turn after every ``per_turn`` events: a
    1 MiB body holds thousands, and lookups answered meanwhile must not wait for them all."""
    parts = split_body(body, content_type)
    if isinstance(parts, Rejection):
        return parts
    items: list[Item] = []
    for start in range(0, len(parts), per_turn):
        if start:
            await asyncio.sleep(0)
        items.extend(
            Item(raw, decode_event(raw, max_event_bytes)) for raw in parts[start : start + per_turn]
        )
    return items
