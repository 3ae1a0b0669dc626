"""End to end on the real broker: events in, alerts / scores / dead letters out."""

from __future__ import annotations

import base64
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bench.steps import metric_values
from tests.integration.conftest import Worker
from tests.integration.kafka_io import collect, produce_events, produce_raw

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def dazzled_then_broken(customer: str) -> list[dict[str, Any]]:
    """A customer who had a dazzling experience, then a broken core-service promise."""
    base = {
        "customer_id": customer,
        "channel": "voice",
        "queue_id": "q-billing",
        "agent_id": "a-ann",
        "source": "test",
    }
    inter = {**base, "interaction_id": f"{customer}-i1"}
    return [
        {**inter, "event_id": f"{customer}-1", "type": "interaction.started", "occurred_at": at(0)},
        {
            **inter,
            "event_id": f"{customer}-2",
            "type": "interaction.connected",
            "occurred_at": at(1),
            "wait_seconds": 40,
        },
        {
            **inter,
            "event_id": f"{customer}-3",
            "type": "interaction.ended",
            "occurred_at": at(9),
            "outcome": "resolved",
            "wait_seconds": 40,
            "handle_seconds": 420,
            "hold_seconds": 0,
            "transfers": 0,
        },
        {
            **base,
            "event_id": f"{customer}-4",
            "type": "experience.dazzle",
            "occurred_at": at(10),
            "interaction_id": f"{customer}-i1",
            "kind": "personalised_help",
        },
        {
            **inter,
            "event_id": f"{customer}-5",
            "type": "feedback.received",
            "occurred_at": at(12),
            "csat": 5,
            "nps": 10,
            "effort": 1,
        },
        {
            **base,
            "event_id": f"{customer}-6",
            "type": "service.promise_broken",
            "occurred_at": at(60 * 24),
            "promise": "missed_callback",
            "description": "callback promised for Tuesday never happened",
        },
    ]


def test_dazzled_customer_hit_by_broken_promise_yields_one_jeopardy_alert(
    worker: Worker,
) -> None:
    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    events = dazzled_then_broken("cust-jeopardy")
    produce_events(bootstrap, worker.topic("input"), events)

    def mine(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if r["entity_id"] == "cust-jeopardy"]

    alerts = collect(
        bootstrap,
        worker.topic("alerts"),
        until=lambda rs: any(a["kind"] == "jeopardy" for a in mine(rs)),
        settle_s=4.0,
    )
    jeopardy = [a for a in mine(alerts) if a["kind"] == "jeopardy"]
    assert len(jeopardy) == 1, mine(alerts)
    alert = jeopardy[0]
    assert alert["entity_type"] == "customer"
    assert "cust-jeopardy-6" in alert["evidence"]
    assert alert["occurred_at"].startswith(at(60 * 24)[:16])
    assert alert["reason"]


def test_unusable_input_lands_on_the_dead_letter_topic_with_a_clear_error(
    worker: Worker,
) -> None:
    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    good = dazzled_then_broken("cust-dlq")[0]
    malformed = b'{"event_id": "dlq-1", "type": '
    wrong_type = dict(good, event_id="dlq-2", type="feedback.received", csat="great")
    unknown = dict(good, event_id="dlq-3", type="interaction.teleported")
    payloads = [malformed, _json(wrong_type), _json(unknown)]
    produce_raw(bootstrap, worker.topic("input"), payloads)

    letters = collect(
        bootstrap, worker.topic("dead_letter"), until=lambda rs: len(rs) >= 3, settle_s=1.0
    )
    by_payload = {base64.b64decode(d["payload_b64"]): d for d in letters}
    assert set(by_payload) == set(payloads)

    bad_json = by_payload[malformed]
    assert bad_json["error"]["reason"] == "invalid_json"
    assert "JSON" in bad_json["error"]["message"]
    assert bad_json["source"]["topic"] == worker.topic("input")
    assert bad_json["source"]["offset"] >= 0

    wrong = by_payload[_json(wrong_type)]
    assert wrong["error"]["reason"] == "invalid_field"
    assert "csat" in wrong["error"]["message"]

    unknown_letter = by_payload[_json(unknown)]
    assert unknown_letter["error"]["reason"] == "unknown_type"
    assert "interaction.teleported" in unknown_letter["error"]["message"]

    metrics = worker.metrics_text()
    assert 'cxpulse_dead_letters_total{reason="invalid_json",stage="ingest"} 1.0' in metrics


def test_a_resent_event_changes_neither_scores_nor_alerts(worker: Worker) -> None:
    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    events = dazzled_then_broken("cust-dup")
    produce_events(bootstrap, worker.topic("input"), events)
    produce_events(bootstrap, worker.topic("input"), events)  # an at-least-once producer

    ids = {e["event_id"] for e in events}
    scores = collect(
        bootstrap,
        worker.topic("scores"),
        until=lambda rs: any(s.get("event_id") == "cust-dup-6" for s in rs),
        settle_s=4.0,
    )
    snapshot_events = Counter(
        s["event_id"] for s in scores if s["entity_id"] == "cust-dup" and s["event_id"] in ids
    )
    assert snapshot_events, "the customer's events produced no score snapshot"
    assert max(snapshot_events.values()) == 1, snapshot_events

    alerts = [
        a
        for a in collect(bootstrap, worker.topic("alerts"), until=lambda rs: False, timeout_s=1.0)
        if a["entity_id"] == "cust-dup"
    ]
    assert [a["kind"] for a in alerts].count("jeopardy") == 1
    assert len({a["alert_id"] for a in alerts}) == len(alerts)

    metrics = worker.metrics_text()
    duplicates = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("cxpulse_duplicates_total ")
    )
    assert duplicates >= len(events)


def _json(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def test_consumer_lag_is_reported_for_the_input_partitions_read(worker: Worker) -> None:
    """The lag gauge comes from faust's monitor (last offset read against the highwater),
    refreshed every 5 s; the records the tests above produced have all been read."""
    label = f'topic="{worker.topic("input")}"'
    deadline = time.monotonic() + 15
    lags: dict[str, float] = {}
    while not lags and time.monotonic() < deadline:
        time.sleep(1)
        found = metric_values(worker.metrics_text(), "cxpulse_consumer_lag")
        lags = {labels: value for labels, value in found.items() if label in labels}
    assert lags, "no lag gauge for the input topic"
    assert all(value == 0 for value in lags.values()), lags
