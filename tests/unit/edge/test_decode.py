from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.edge.decode import MessageOrigin, Rejection, dead_letter, decode_event
from cxpulse.schemas.events import InteractionStarted

GOOD = orjson.dumps(
    {
        "event_id": "e-1",
        "type": "interaction.started",
        "occurred_at": "2026-05-01T10:00:00Z",
        "customer_id": "c-1",
        "interaction_id": "i-1",
    }
)
LIMIT = 4_096


@pytest.mark.parametrize(
    ("raw", "reason", "words"),
    [
        (b"", "empty", "no payload"),
        (b"x" * (LIMIT + 1), "too_large", "4097 bytes"),
        (b'{"event_id": ', "invalid_json", "not valid JSON"),
        (b"\xff\xfe{}", "invalid_encoding", "not UTF-8"),
        (b"[1, 2]", "not_an_object", "not an object"),
        (b'{"event_id": "e"}', "missing_type", "'type'"),
        (
            GOOD.replace(b"interaction.started", b"interaction.teleported"),
            "unknown_type",
            "interaction.teleported",
        ),
        (GOOD.replace(b'"c-1"', b"17"), "invalid_field", "customer_id"),
        (b"[" * 5_000 + b"]" * 5_000, "invalid_json", "JSON"),
    ],
)
def test_rejections_name_the_problem(raw: bytes, reason: str, words: str) -> None:
    result = decode_event(raw, LIMIT if len(raw) <= LIMIT + 1 else len(raw))
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert words in result.message


def test_a_valid_event_decodes() -> None:
    result = decode_event(GOOD, LIMIT)
    assert isinstance(result, InteractionStarted)
    assert result.customer_id == "c-1"


def test_invalid_field_lists_every_problem() -> None:
    raw = orjson.dumps(
        {
            "event_id": "e",
            "type": "interaction.ended",
            "occurred_at": "2026-05-01T10:00:00Z",
            "customer_id": "c",
            "interaction_id": "i",
            "outcome": "meh",
            "transfers": -1,
        }
    )
    result = decode_event(raw, LIMIT)
    assert isinstance(result, Rejection)
    assert {d.split(":")[0] for d in result.details} == {"outcome", "transfers"}


def test_dead_letter_keeps_the_original_bytes_and_origin() -> None:
    raw = b"\x00\xffnot json"
    origin = MessageOrigin(topic="interactions", partition=3, offset=42, key=b"k")
    letter = dead_letter(raw, Rejection("invalid_json", "bad"), origin, "ingest")
    assert base64.b64decode(letter.payload_b64) == raw
    assert letter.payload_size == len(raw)
    assert (letter.source.topic, letter.source.partition, letter.source.offset) == (
        "interactions",
        3,
        42,
    )
    assert base64.b64decode(letter.source.key_b64 or "") == b"k"
    assert orjson.loads(letter.to_json())["error"]["reason"] == "invalid_json"


@given(st.binary(max_size=2_000))
def test_any_bytes_decode_or_are_rejected_with_a_reason(raw: bytes) -> None:
    result = decode_event(raw, LIMIT)
    if isinstance(result, Rejection):
        assert result.reason
        assert result.message
        letter = dead_letter(raw, result, MessageOrigin("t", 0, 0), "ingest")
        assert base64.b64decode(letter.payload_b64) == raw
