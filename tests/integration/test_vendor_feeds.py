"""Platform payloads on their raw topics come out as scores; broken ones as dead letters."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cxpulse.adapters import ADAPTERS
from cxpulse.config.settings import Settings
from cxpulse.replay import replay
from cxpulse.scoring.anonymous import anonymous_customer
from cxpulse.worker.lanes import lane_for
from tests.integration.conftest import FEEDS, Worker
from tests.integration.kafka_io import collect, produce, produce_raw

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"


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


# --- contacts without a customer identity ---------------------------------------------------

INSTANCE = "arn:aws:connect:us-west-2:123456789012:instance/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
START = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
CONTACTS = 48
#: Contacts this long after the last one close every window the comparison reads, in every
#: lane, whatever lane each customer key hashes to.
TAIL_AFTER = timedelta(days=2)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def contact_stream(
    run: str, index: int, at: datetime, customer: str | None, *, agent: str, queue: str
) -> list[bytes]:
    """One contact's INITIATED, CONNECTED_TO_AGENT (unless abandoned) and DISCONNECTED
    events, shaped as the untagged fixtures (the default tags of a flow without a *Set
    contact tags* block); ``customer`` adds the ``customerId`` tag."""
    contact_id = f"{run}-{index:04d}"
    abandoned = index % 5 == 4
    enqueued = at + timedelta(seconds=20 + index % 7 * 9)
    connected = enqueued + timedelta(seconds=15 + index % 11 * 12)
    disconnected = (enqueued if abandoned else connected) + timedelta(
        seconds=90 if abandoned else 180 + index % 13 * 41
    )
    queue_info = {"queueArn": f"{INSTANCE}/queue/{queue}", "queueType": "STANDARD"}
    queue_info["enqueueTimestamp"] = stamp(enqueued)
    agent_info = {
        "agentArn": f"{INSTANCE}/agent/{agent}",
        "connectedToAgentTimestamp": stamp(connected),
    }
    tags = {"aws:connect:instanceId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}
    if customer is not None:
        tags["customerId"] = customer
    payloads = []
    steps: list[tuple[str, dict[str, Any], datetime]] = [
        ("connect_event_untagged_initiated.json", {}, at),
        (
            "connect_event_untagged_connected_to_agent.json",
            {"queueInfo": queue_info, "agentInfo": agent_info},
            connected,
        ),
        (
            "connect_event_untagged_disconnected.json",
            {
                "queueInfo": queue_info,
                "disconnectTimestamp": stamp(disconnected),
                **({} if abandoned else {"agentInfo": agent_info}),
            },
            disconnected,
        ),
    ]
    for name, changes, time in steps:
        if abandoned and "connected_to_agent" in name:
            continue
        event = json.loads((PAYLOADS / name).read_bytes())
        detail = event["detail"]
        detail.pop("agentInfo", None)
        detail.update(
            contactId=contact_id,
            initialContactId=contact_id,
            initiationTimestamp=stamp(at),
            tags=tags,
            **changes,
        )
        event["time"] = stamp(time)
        payloads.append(json.dumps(event).encode())
    return payloads


def tail_customers(identified: bool, lanes: int, run: str) -> list[tuple[int, str | None]]:
    """Contacts (index, customer tag) that put a late contact in every lane."""
    found: dict[int, tuple[int, str | None]] = {}
    index = 1000
    while len(found) < lanes:
        customer = f"{run}-tail-{index}" if identified else None
        key = customer or anonymous_customer("amazon-connect", f"{run}-{index:04d}")
        found.setdefault(lane_for(key, lanes), (index, customer))
        index += 1
    return list(found.values())


def feed(run: str, identified: bool, lanes: int) -> list[bytes]:
    agents, queues = [f"{run}-agent-a", f"{run}-agent-b"], [f"{run}-queue-x", f"{run}-queue-y"]
    payloads: list[bytes] = []
    for index in range(CONTACTS):
        payloads += contact_stream(
            run,
            index,
            START + timedelta(minutes=7.5 * index),
            f"{run}-customer-{index}" if identified else None,
            agent=agents[index % 2],
            queue=queues[index // 2 % 2],
        )
    tail_at = START + timedelta(minutes=7.5 * CONTACTS) + TAIL_AFTER
    for index, customer in tail_customers(identified, lanes, run):
        payloads += contact_stream(
            run, index, tail_at, customer, agent=f"{run}-tail", queue=f"{run}-tail"
        )
    return payloads


def entity_snapshots(snapshots: Iterable[dict[str, Any]], run: str) -> dict[tuple[str, ...], Any]:
    """Agent and queue snapshots of the compared contacts, by entity and time."""
    return {
        (str(s["entity_type"]), str(s["entity_id"]), str(s["as_of"])): (s["scores"], s["labels"])
        for s in snapshots
        if s["entity_type"] in {"agent", "queue"}
        and str(s["entity_id"]).startswith(run)
        and not str(s["entity_id"]).endswith("-tail")
    }


def test_untagged_connect_contacts_score_agents_and_queues_as_identified_ones_do(
    worker: Worker,
) -> None:
    """A Connect contact-event stream without a customerId tag, through the worker, moves
    the agent and queue scores exactly as `cxpulse replay` of the same contacts with a
    customer id each; it publishes no customer alert, notice or snapshot."""
    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    lanes = int(worker.env["CXPULSE_PARTITIONS"])
    run = f"t{uuid.uuid4().hex[:8]}"
    adapt = ADAPTERS["amazon-connect-events"]
    config = Settings(partitions=lanes).scoring_config()

    identified = [event for p in feed(run, True, lanes) for event in adapt(p)]
    expected = replay(identified, config)
    wanted = entity_snapshots((s.model_dump(mode="json") for s in expected.snapshots), run)
    assert {key[0] for key in wanted} == {"agent", "queue"}, "the replay closes no window"
    assert any(s.entity_type == "customer" for s in expected.snapshots)

    anonymous = feed(run, False, lanes)
    assert {e.customer_id.split(":")[0] for p in anonymous for e in adapt(p)} == {"anon"}
    # Keyed by contact, as a relay that keeps one contact's events in order would key them:
    # unkeyed, a contact's events spread over the raw partitions and may be scored out of
    # order (an end before its connect), which the time-ordered replay never does.
    keyed = [(json.loads(p)["detail"]["contactId"].encode(), p) for p in anonymous]
    asyncio.run(produce(bootstrap, raw_topic(worker, "amazon-connect-events"), keyed))

    def mine(records: list[dict[str, Any]]) -> dict[tuple[str, ...], Any]:
        return entity_snapshots(records, run)

    scores = collect(
        bootstrap,
        worker.topic("scores"),
        until=lambda rs: set(mine(rs)) >= set(wanted),
        timeout_s=90.0,
        settle_s=2.0,
    )
    streamed = mine(scores)
    differing = {
        key: {
            name: (value, wanted[key][0].get(name))
            for name, value in streamed[key][0].items()
            if value != wanted[key][0].get(name)
        }
        for key in wanted
        if key in streamed and streamed[key] != wanted[key]
    }
    assert streamed == wanted, differing
    anonymous_keys = f"anon:amazon-connect:{run}-"
    assert not [s for s in scores if str(s["entity_id"]).startswith(anonymous_keys)]
    for topic in ("alerts", "notices"):
        published = collect(bootstrap, worker.topic(topic), until=lambda rs: False, timeout_s=3.0)
        assert not [
            a
            for a in published
            if a["entity_type"] == "customer" and str(a["entity_id"]).startswith(anonymous_keys)
        ], topic
    metrics = worker.metrics_text()
    assert (
        'cxpulse_anonymous_events_total{source="amazon-connect-events",type="interaction.ended"}'
        in metrics
    )
