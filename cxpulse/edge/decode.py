"""Raw Kafka bytes -> a validated event, or a rejection that says exactly what is wrong.

Pure: the ingest agent wires it to topics; the replay and the tests call it directly.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cxpulse.schemas.events import EVENT_TYPES, Event, parse_event
from cxpulse.schemas.outputs import DeadLetter, DeadLetterError, DeadLetterSource

PREVIEW_CHARS = 1_000
MAX_DETAILS = 10


@dataclass(frozen=True)
class Rejection:
    """Why an input cannot be used; ``reason`` is a stable code for metrics and alerting."""

    reason: str
    message: str
    details: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class MessageOrigin:
    """Where a raw record came from, kept in its dead letter."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    timestamp_ms: int | None = None


def check_size(raw: bytes, max_bytes: int) -> Rejection | None:
    """Refuse empty and oversized payloads before anything parses them."""
    if not raw:
        return Rejection("empty", "the message has no payload")
    if len(raw) > max_bytes:
        return Rejection(
            "too_large", f"payload is {len(raw)} bytes, above the {max_bytes}-byte limit"
        )
    return None


def decode_event(raw: bytes | None, max_bytes: int) -> Event | Rejection:
    payload = raw or b""
    refused = check_size(payload, max_bytes)
    if refused is not None:
        return refused
    try:
        return parse_event(payload)
    except ValidationError as exc:
        return _explain(payload, exc.errors(include_url=False, include_input=False))


def _explain(raw: bytes, errors: list[ErrorDetails]) -> Rejection:
    first = errors[0]
    kind = first["type"]
    if kind == "json_invalid":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejection(
                "invalid_encoding", f"payload is not UTF-8: {exc.reason} at byte {exc.start}"
            )
        return Rejection("invalid_json", f"payload is not valid JSON: {first['msg']}")
    if kind in {"model_attributes_type", "dict_type", "model_type"}:
        return Rejection("not_an_object", "payload is JSON but not an object")
    if kind == "union_tag_not_found":
        return Rejection("missing_type", "the event has no 'type' field")
    if kind == "union_tag_invalid":
        tag = (first.get("ctx") or {}).get("tag", "?")
        return Rejection(
            "unknown_type",
            f"unknown event type {tag!r}; expected one of: {', '.join(EVENT_TYPES)}",
        )
    details = tuple(_describe(error) for error in errors[:MAX_DETAILS])
    event_type = str(first["loc"][0]) if first["loc"] else "event"
    return Rejection(
        "invalid_field",
        f"{event_type} has {len(errors)} invalid field(s): {details[0]}",
        details,
    )


def _describe(error: ErrorDetails) -> str:
    # loc is (type tag, field, ...): drop the tag, it is already in the message.
    path = ".".join(str(part) for part in error["loc"][1:]) or "(event)"
    return f"{path}: {error['msg']}"


def dead_letter(
    raw: bytes | None,
    rejection: Rejection,
    origin: MessageOrigin,
    stage: str,
    rejected_at: datetime | None = None,
) -> DeadLetter:
    payload = raw or b""
    return DeadLetter(
        stage=stage,
        error=DeadLetterError(
            reason=rejection.reason, message=rejection.message, details=list(rejection.details)
        ),
        source=DeadLetterSource(
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            key_b64=base64.b64encode(origin.key).decode() if origin.key is not None else None,
            timestamp_ms=origin.timestamp_ms,
        ),
        payload_b64=base64.b64encode(payload).decode(),
        payload_preview=payload[:PREVIEW_CHARS].decode("utf-8", errors="replace"),
        payload_size=len(payload),
        rejected_at=rejected_at,
    )
