"""Platform payloads on their raw topics come out as scores; broken ones as dead letters."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cxpulse.agents.adapters import ADAPTERS
from tests.integration.conftest import Worker
from tests.integration.kafka_io import collect, produce_raw

PAYLOADS = Path(__file__).resolve().parents[1] / "unit" / "agents" / "adapters" / "payloads"

#: A whole contact per platform, as each platform delivers it.
FEEDS = {
    "amazon-connect-ctr": ["ctr_voice_resolved.json", "ctr_abandoned.json"],
    "amazon-connect-events": [
        "connect_event_initiated.json",
        "connect_event_connected_to_agent.json",
        "connect_event_disconnected.json",
    ],
    "twilio-taskrouter": [
        "twilio_task_created.form",
        "twilio_reservation_accepted.form",
        "twilio_task_completed.form",
    ],
    "genesys-cloud": [
        "genesys_customer_start.json",
        "genesys_acd_end_answered.json",
        "genesys_customer_end.json",
    ],
    "zendesk": ["zendesk_ticket_created.json", "zendesk_status_changed_solved.json"],
}


def raw_topic(worker: Worker, source: str) -> str:
    return worker.env["CXPULSE_RAW_TOPIC_PREFIX"] + source


def test_every_platform_feed_is_scored(worker: Worker) -> None:
    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    ids_by_source: dict[str, set[str]] = {}
    customers: set[str] = set()
    for source, files in FEEDS.items():
        payloads = [(PAYLOADS / name).read_bytes() for name in files]
        events = [event for payload in payloads for event in ADAPTERS[source](payload)]
        assert events, source
        ids_by_source[source] = {event.event_id for event in events}
        customers.update(event.customer_id for event in events)
        produce_raw(bootstrap, raw_topic(worker, source), payloads)

    def scored(records: list[dict[str, object]]) -> dict[str, bool]:
        seen = {str(r["event_id"]) for r in records}
        return {source: bool(ids & seen) for source, ids in ids_by_source.items()}

    scores = collect(
        bootstrap,
        worker.topic("scores"),
        until=lambda rs: all(scored(rs).values()),
        timeout_s=60.0,
        settle_s=1.0,
    )
    assert all(scored(scores).values()), scored(scores)
    assert customers <= {str(r["entity_id"]) for r in scores}


@pytest.mark.parametrize("source", sorted(ADAPTERS))
def test_a_malformed_payload_of_each_platform_is_dead_lettered(worker: Worker, source: str) -> None:
    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    payload = f'{{"broken": "{source}"'.encode()
    produce_raw(bootstrap, raw_topic(worker, source), [payload])

    def mine(records: list[dict[str, object]]) -> list[dict[str, object]]:
        return [r for r in records if base64.b64decode(str(r["payload_b64"])) == payload]

    letters = mine(
        collect(
            bootstrap, worker.topic("dead_letter"), until=lambda rs: bool(mine(rs)), settle_s=0.2
        )
    )
    assert len(letters) == 1
    letter = letters[0]
    assert letter["stage"] == f"adapter:{source}"
    error = letter["error"]
    assert isinstance(error, dict)
    assert error["reason"] in {"invalid_json", "invalid_form", "invalid_shape"}
    assert source in str(error["message"])
