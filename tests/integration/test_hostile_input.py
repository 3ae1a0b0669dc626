"""Hostile input on the real broker: every bad record is a dead letter, the worker lives on."""

from __future__ import annotations

import base64
import random
from typing import Any

import orjson

from tests.integration.conftest import Worker
from tests.integration.kafka_io import collect, produce_events, produce_raw

GOOD: dict[str, Any] = {
    "event_id": "hostile-ok",
    "type": "interaction.started",
    "occurred_at": "2026-04-01T10:00:00Z",
    "customer_id": "cust-after-the-storm",
    "interaction_id": "i-1",
}


#: A valid event sent after the storm: it must still be scored (a dazzle changes scores).
AFTER: dict[str, Any] = {
    "event_id": "hostile-ok",
    "type": "experience.dazzle",
    "occurred_at": "2026-04-01T10:05:00Z",
    "customer_id": "cust-after-the-storm",
    "kind": "goodwill",
}


def hostile_payloads() -> list[bytes]:
    rng = random.Random(1234)
    payloads = [rng.randbytes(rng.randint(1, 300)) for _ in range(40)]  # arbitrary bytes
    payloads += [
        b"",
        b" ",
        b"null",
        b"[]",
        b'"a string"',
        b"1e999999",
        b"{" * 10_000,  # unterminated
        b"[" * 50_000 + b"]" * 50_000,  # deep nesting
        orjson.dumps({"x": "y" * 200_000}),  # larger than CXPULSE_MAX_EVENT_BYTES
        '{"event_id": "caf\u00e9"}'.encode("latin-1"),  # wrong encoding
        b"\xef\xbb\xbf" + orjson.dumps(GOOD | {"event_id": "bom"}),  # UTF-8 byte order mark
        orjson.dumps(GOOD | {"event_id": "h1", "occurred_at": "9999-12-31T23:59:59Z"}),
        orjson.dumps(GOOD | {"event_id": "h2", "occurred_at": "not a time"}),
        orjson.dumps(GOOD | {"event_id": "h3", "customer_id": "x" * 10_000}),
        orjson.dumps(
            GOOD
            | {
                "event_id": "h4",
                "type": "interaction.ended",
                "outcome": "resolved",
                "handle_seconds": 1e308,
            }
        ),
        orjson.dumps(GOOD | {"event_id": "h5", "type": "feedback.received"})[:-1]
        + b', "csat": 1000000000000000000000000000000}',
        orjson.dumps(GOOD | {"event_id": "h6", "customer_id": None}),
        orjson.dumps(GOOD | {"event_id": "h7", "type": None}),
        orjson.dumps({k: v for k, v in GOOD.items() if k != "event_id"}),
    ]
    return payloads


def test_hostile_records_are_dead_lettered_and_the_worker_keeps_scoring(worker: Worker) -> None:
    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    payloads = hostile_payloads()
    produce_raw(bootstrap, worker.topic("input"), payloads)
    produce_events(bootstrap, worker.topic("input"), [AFTER])

    wanted = set(payloads)

    def mine(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if base64.b64decode(r["payload_b64"]) in wanted]

    letters = mine(
        collect(
            bootstrap,
            worker.topic("dead_letter"),
            until=lambda rs: {base64.b64decode(r["payload_b64"]) for r in mine(rs)} >= wanted,
            timeout_s=90.0,
            settle_s=1.0,
        )
    )
    assert {base64.b64decode(r["payload_b64"]) for r in letters} == wanted
    assert all(r["error"]["reason"] and r["error"]["message"] for r in letters)
    reasons = {r["error"]["reason"] for r in letters}
    assert {"empty", "too_large", "invalid_json", "invalid_encoding", "invalid_field"} <= reasons

    scores = collect(
        bootstrap,
        worker.topic("scores"),
        until=lambda rs: any(r["event_id"] == "hostile-ok" for r in rs),
        timeout_s=30.0,
        settle_s=0,
    )
    assert any(r["event_id"] == "hostile-ok" for r in scores), "the worker stopped scoring"
    assert worker.http_status("/healthz") == 200
    assert worker.process is not None
    assert worker.process.poll() is None
