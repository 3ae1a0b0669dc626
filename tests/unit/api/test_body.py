"""Bodies of POST /v1/events: the same verdicts as the Kafka edge, per event."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.api.body import parse_events, parse_events_yielding
from cxpulse.edge.decode import Rejection, decode_event

MAX = 65_536


def event(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "type": "interaction.started",
        "occurred_at": "2025-01-06T10:00:00+00:00",
        "customer_id": f"c{n}",
        "interaction_id": f"i{n}",
        **fields,
    }


def verdicts(body: bytes, content_type: str = "application/json") -> list[str]:
    items = parse_events(body, content_type, MAX)
    assert not isinstance(items, Rejection)
    return [
        r.reason if isinstance(r := item.result, Rejection) else f"ok:{r.event_id}"
        for item in items
    ]


def test_one_event_an_array_and_ndjson() -> None:
    one = orjson.dumps(event(1))
    assert verdicts(one) == ["ok:e1"]
    assert verdicts(b"  " + orjson.dumps([event(1), event(2)])) == ["ok:e1", "ok:e2"]
    ndjson = orjson.dumps(event(1)) + b"\n\n" + orjson.dumps(event(2)) + b"\n"
    assert verdicts(ndjson, "application/x-ndjson") == ["ok:e1", "ok:e2"]


def test_rejections_carry_the_dead_letter_reason_and_details() -> None:
    body = orjson.dumps([event(1), event(2, type="nope"), event(3, channel="fax"), 7, {}])
    items = parse_events(body, "application/json", MAX)
    assert not isinstance(items, Rejection)
    results = [item.result for item in items]
    assert [r.reason if isinstance(r, Rejection) else "ok" for r in results] == [
        "ok",
        "unknown_type",
        "invalid_field",
        "not_an_object",
        "missing_type",
    ]
    field_error = results[2]
    assert isinstance(field_error, Rejection)
    assert any(detail.startswith("channel:") for detail in field_error.details)


def test_a_bad_line_of_ndjson_is_rejected_alone() -> None:
    body = orjson.dumps(event(1)) + b"\n{oops\n" + orjson.dumps(event(2))
    assert verdicts(body, "application/x-ndjson") == ["ok:e1", "invalid_json", "ok:e2"]


def test_a_broken_array_is_one_rejection() -> None:
    assert isinstance(parse_events(b"[{", "application/json", MAX), Rejection)
    refused = parse_events(b"[\xff]", "application/json", MAX)
    assert isinstance(refused, Rejection)
    assert refused.reason == "invalid_encoding"


def test_oversized_event_is_too_large() -> None:
    big = event(1, type="conversation.note", text="x" * 2_000)
    assert verdicts(orjson.dumps(big).replace(b"}", b"}", 1)) == ["ok:e1"]
    items = parse_events(orjson.dumps(big), "application/json", 1_000)
    assert not isinstance(items, Rejection)
    assert isinstance(items[0].result, Rejection)
    assert items[0].result.reason == "too_large"


@given(st.binary(max_size=300))
def test_a_single_body_gets_exactly_the_kafka_edge_verdict(body: bytes) -> None:
    items = parse_events(body, "application/json", MAX)
    if isinstance(items, Rejection):
        assert body.lstrip()[:1] == b"["
        return
    assert len(items) == 1
    assert items[0].raw == body
    assert items[0].result == decode_event(body, MAX)


@given(st.lists(st.binary(min_size=1, max_size=80).filter(lambda b: b"\n" not in b), max_size=8))
def test_ndjson_lines_get_the_kafka_edge_verdict(lines: list[bytes]) -> None:
    items = parse_events(b"\n".join(lines), "application/x-ndjson", MAX)
    assert not isinstance(items, Rejection)
    kept = [line for line in lines if line.strip()]
    assert [item.raw for item in items] == kept
    assert [item.result for item in items] == [decode_event(line, MAX) for line in kept]


@given(st.lists(st.sampled_from([b"{}", b"[", b'{"type": 1}']), max_size=30), st.integers(1, 7))
def test_the_yielding_parse_gives_the_same_items(lines: list[bytes], per_turn: int) -> None:
    body = b"\n".join(lines)
    for content_type in ("application/x-ndjson", "application/json"):
        expected = parse_events(body, content_type, MAX)
        got = asyncio.run(parse_events_yielding(body, content_type, MAX, per_turn))
        assert got == expected
