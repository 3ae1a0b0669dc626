"""The HTTP API on the real broker: `cxpulse gateway` processes beside a `cxpulse worker`.

* canonical events posted over HTTP come out as exactly the alerts `cxpulse replay`
  computes, and the lookups answer what the scores and alerts topics hold;
* every platform's webhook, signed by the platform's documented algorithm, reaches its raw
  topic byte for byte and is scored; tampered, unsigned and stale ones are refused 401 and
  never reach Kafka;
* an oversized body gets 413;
* a 202 is never answered for an event Kafka did not take: the gateway's own broker is
  stopped mid-stream (the shared broker must stay up);
* the API is fuzzed from its OpenAPI document (schemathesis): no 5xx, nothing outside the
  document.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from cxpulse.adapters import ADAPTERS
from cxpulse.api import auth
from cxpulse.simulate import Simulation, SimulationConfig
from tests.integration.conftest import (
    FEEDS,
    REPO,
    CommandProcess,
    Worker,
    free_port,
    make_worker,
    metric_total,
    sibling,
)
from tests.integration.kafka_io import collect, collect_ids
from tests.integration.own_broker import OwnBroker, own_broker_in

PAYLOADS = REPO / "tests" / "payloads"
API_KEY = "integration-test-key-0001"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
ZENDESK_SECRET = "zendesk-signing-secret-for-tests"
WEBHOOK_KEYS = {
    "amazon-connect-ctr": "ctr-key-for-tests",
    "amazon-connect-events": "eventbridge-key-for-tests",
    "genesys-cloud": "genesys-key-for-tests",
}
KEY_HEADER = "X-Cxpulse-Webhook-Key"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass(kw_only=True)
class Gateway(CommandProcess):
    """A `cxpulse gateway`."""

    command: ClassVar[str] = "gateway"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, wait_for: str = "/readyz", timeout_s: float = 60.0) -> None:
        self.launch()
        self.wait_answering(wait_for, timeout_s)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> Answer:
        request = urllib.request.Request(
            self.url(path), data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                content = response.read()
                body = orjson.loads(content) if content else None
                return Answer(response.status, dict(response.headers), body)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), orjson.loads(exc.read()))


def make_gateway(env: dict[str, str], tmp: Path, **overrides: str) -> Gateway:
    port = free_port()
    api_env = {
        **env,
        "CXPULSE_API_PORT": str(port),
        "CXPULSE_API_KEYS_SHA256": hashlib.sha256(API_KEY.encode()).hexdigest(),
        "CXPULSE_API_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "CXPULSE_API_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
        "CXPULSE_API_RATE_PER_S": "10000",
        "CXPULSE_API_RATE_BURST": "10000",
        **{
            f"CXPULSE_API_WEBHOOK_KEY_{source.upper().replace('-', '_')}": key
            for source, key in WEBHOOK_KEYS.items()
        },
        **overrides,
    }
    return Gateway(env=api_env, port=port, log_path=tmp / f"gateway-{port}.log")


BEARER = {"Authorization": f"Bearer {API_KEY}"}
NDJSON = {**BEARER, "Content-Type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def api_worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    running = make_worker(bootstrap, tmp_path_factory.mktemp("api-worker"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def gateway(api_worker: Worker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    running = make_gateway(api_worker.env, tmp_path_factory.mktemp("gateway"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def ndjson(events: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(event) for event in events) + b"\n"


def latest_by_entity(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        key = (record["entity_type"], record["entity_id"])
        held = latest.get(key)
        if held is None or datetime.fromisoformat(record["as_of"]) >= datetime.fromisoformat(
            held["as_of"]
        ):
            latest[key] = record
    return latest


PLURAL = {"customer": "customers", "agent": "agents", "queue": "queues", "service": "services"}


def assert_lookups_match_the_scores_topic(
    gateway: Gateway, worker: Worker, per_kind: int
) -> dict[tuple[str, str], dict[str, Any]]:
    """The lookups answer what the scores topic shows, once the gateway has read it (and
    the workers have published it: the topic is read again until both agree); returns the
    topic's latest snapshot per entity."""
    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    deadline = time.monotonic() + 60
    while True:
        scores = latest_by_entity(collect(bootstrap, worker.topic("scores"), lambda rs: True))
        samples: dict[str, list[tuple[str, str]]] = {}
        for entity_type, entity_id in sorted(scores):
            samples.setdefault(entity_type, []).append((entity_type, entity_id))
        chosen = [key for kind in PLURAL for key in samples.get(kind, [])[:per_kind]]
        assert {kind for kind, _ in chosen} >= {"customer", "agent", "queue"}
        mismatched = []
        for entity_type, entity_id in chosen:
            answer = gateway.call("GET", f"/v1/{PLURAL[entity_type]}/{entity_id}", None, BEARER)
            if answer.status != 200 or answer.body["snapshot"] != scores[entity_type, entity_id]:
                mismatched.append((entity_type, entity_id))
        if not mismatched or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert not mismatched, mismatched
    return scores


def test_events_over_http_are_scored_as_the_replay_and_lookups_match_the_scores_topic(
    gateway: Gateway, api_worker: Worker, scenario: tuple[list[dict[str, Any]], set[str]]
) -> None:
    events, expected = scenario
    bootstrap = api_worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    started = time.monotonic()
    for first in range(0, len(events), 500):
        chunk = events[first : first + 500]
        answer = gateway.call("POST", "/v1/events", ndjson(chunk), NDJSON)
        assert answer.status == 202, answer.body
        assert answer.body["accepted"] == len(chunk)
        assert answer.body["rejected"] == 0
    posted_s = time.monotonic() - started
    alerts = collect_ids(bootstrap, api_worker.topic("alerts"), expected)
    assert {a["alert_id"] for a in alerts} == expected
    print(f"\n{len(events)} events posted in {posted_s:.1f}s; {len(expected)} alerts as replay")

    scores = assert_lookups_match_the_scores_topic(gateway, api_worker, per_kind=5)

    unknown = gateway.call("GET", "/v1/customers/nobody-at-all", None, BEARER)
    assert unknown.status == 404
    assert "no scores" in unknown.body["message"]

    incidents = gateway.call("GET", "/v1/incidents?status=all", None, BEARER)
    assert incidents.status == 200
    group_keys = {a["group_key"] for a in alerts}
    assert {i["group_key"] for i in incidents.body["incidents"]} == group_keys
    firing = gateway.call("GET", "/v1/incidents", None, BEARER)
    assert all(i["status"] == "firing" for i in firing.body["incidents"])

    in_topic = {entity_id for kind, entity_id in scores if kind == "rule"}
    assert in_topic
    deadline = time.monotonic() + 30
    rules = gateway.call("GET", "/v1/rules", None, BEARER)
    while {r["entity_id"] for r in rules.body["rules"]} != in_topic and time.monotonic() < deadline:
        time.sleep(0.5)
        rules = gateway.call("GET", "/v1/rules", None, BEARER)
    assert rules.status == 200
    assert {r["entity_id"] for r in rules.body["rules"]} == in_topic
    frictions = [r["snapshot"]["scores"].get("friction", 0.0) for r in rules.body["rules"]]
    assert frictions == sorted(frictions, reverse=True)


def test_lookups_match_the_scores_topic_with_two_workers_after_a_rebalance(
    gateway: Gateway, api_worker: Worker, tmp_path: Path
) -> None:
    """A second worker joins (partitions move), events for the same customers keep
    coming over HTTP, both workers score their share, and every lookup still answers the
    latest snapshot of the scores topic, whichever worker published it."""
    second = sibling(api_worker, tmp_path / "second")
    before = metric_sum(api_worker, "cxpulse_events_total")
    try:
        second.start()
        events = list(Simulation(SimulationConfig(count=3_000, seed=77)).events())
        for first in range(0, len(events), 500):
            answer = gateway.call("POST", "/v1/events", ndjson(events[first : first + 500]), NDJSON)
            assert answer.status == 202, answer.body
        workers = (api_worker, second)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ingested = sum(metric_sum(w, "cxpulse_events_total") for w in workers) - before
            if ingested >= len(events):
                break
            time.sleep(1.0)
        assert ingested == len(events)
        for worker in workers:
            assert metric_sum(worker, "cxpulse_events_total") > 0, worker.log_tail()
        assert metric_sum(second, "cxpulse_events_total") > 0, "the second worker got no share"
        assert_lookups_match_the_scores_topic(gateway, api_worker, per_kind=20)
    finally:
        second.stop()


def metric_sum(worker: Worker, name: str) -> float:
    """The sum of every sample of ``name`` on ``worker``'s /metrics."""
    return metric_total(worker.metrics_text(), name)


async def _raw_records(bootstrap: str, topic: str, settle_s: float) -> list[bytes]:
    """Every record value of ``topic`` from its start (bytes, not necessarily JSON)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            values.extend(r.value for records in batch.values() for r in records if r.value)
        return values
    finally:
        await consumer.stop()


def raw_records(bootstrap: str, topic: str, settle_s: float = 3.0) -> list[bytes]:
    return asyncio.run(_raw_records(bootstrap, topic, settle_s))


def signed(gateway: Gateway, source: str, body: bytes, when: datetime) -> dict[str, str]:
    """The headers the platform itself would send with ``body``."""
    path = f"/v1/webhooks/{source}"
    if source == "twilio-taskrouter":
        params = parse_qsl(body.decode(), keep_blank_values=True)
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            auth.TWILIO_SIGNATURE: auth.twilio_signature(gateway.url(path), params, TWILIO_TOKEN),
        }
    if source == "zendesk":
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "Content-Type": "application/json",
            auth.ZENDESK_SIGNATURE: auth.zendesk_signature(stamp, body, ZENDESK_SECRET),
            auth.ZENDESK_TIMESTAMP: stamp,
        }
    return {"Content-Type": "application/json", KEY_HEADER: WEBHOOK_KEYS[source]}


def test_signed_webhooks_reach_kafka_unchanged_and_forged_ones_never_do(
    gateway: Gateway, api_worker: Worker
) -> None:
    bootstrap = api_worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    now = datetime.now(UTC)
    accepted: dict[str, list[bytes]] = {}
    for source, files in FEEDS.items():
        path = f"/v1/webhooks/{source}"
        for name in files:
            body = (PAYLOADS / name).read_bytes()
            headers = signed(gateway, source, body, now)
            if source in WEBHOOK_KEYS:  # a key signs nothing: tampered is a wrong key
                forged = {**headers, KEY_HEADER: WEBHOOK_KEYS[source] + "x"}
                assert gateway.call("POST", path, body, forged).status == 401, source
            else:  # tampered: the body changed after signing (one byte more)
                tampered = gateway.call("POST", path, body + b" ", headers)
                assert tampered.status == 401, (source, tampered.body)
            # Unsigned: no signature, timestamp or key header at all.
            bare = {"Content-Type": headers["Content-Type"]}
            assert gateway.call("POST", path, body, bare).status == 401, source
            if source == "zendesk":  # stale: signed 6 minutes ago
                stale = signed(gateway, source, body, now - timedelta(minutes=6))
                assert gateway.call("POST", path, body, stale).status == 401
            answer = gateway.call("POST", path, body, headers)
            if source == "twilio-taskrouter":  # TaskRouter expects 204 No Content
                assert answer.status == 204, answer.body
            else:
                assert answer.status == 202, (source, answer.body)
                assert answer.body["topic"] == api_worker.env["CXPULSE_RAW_TOPIC_PREFIX"] + source
            accepted.setdefault(source, []).append(body)

    for source, bodies in accepted.items():
        topic = api_worker.env["CXPULSE_RAW_TOPIC_PREFIX"] + source
        assert sorted(raw_records(bootstrap, topic)) == sorted(bodies), source

    # ... and the worker's adapters score them.
    wanted = {
        source: {e.event_id for body in bodies for e in ADAPTERS[source](body)}
        for source, bodies in accepted.items()
    }

    def every_source_scored(records: list[dict[str, Any]]) -> bool:
        seen = {str(r["event_id"]) for r in records}
        return all(ids & seen for ids in wanted.values())

    scores = collect(bootstrap, api_worker.topic("scores"), every_source_scored, timeout_s=90)
    assert every_source_scored(scores)


def test_oversized_body_is_413_and_not_written(gateway: Gateway, api_worker: Worker) -> None:
    bootstrap = api_worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    marker = "oversized-413-marker"
    note = {
        "event_id": marker,
        "type": "conversation.note",
        "occurred_at": "2025-01-06T10:00:00+00:00",
        "customer_id": marker,
        "interaction_id": marker,
        "text": "x",
    }
    body = ndjson([note] * 6_000)
    assert len(body) > 1_048_576
    answer = gateway.call("POST", "/v1/events", body, NDJSON)
    assert answer.status == 413
    assert answer.body["error"] == "too_large"
    inputs = raw_records(bootstrap, api_worker.topic("input"), settle_s=2.0)
    assert not any(marker.encode() in value for value in inputs)


# --- Kafka stopped mid-stream: never a 202 for an event Kafka did not take -----------------


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    with own_broker_in(tmp_path) as broker:
        yield broker


@dataclass
class Tally:
    """What the gateway answered, request by request."""

    acked: set[str]
    statuses: list[int]
    retry_after: list[str | None]
    slowest_s: float = 0.0
    sent: int = 0

    def post(self, gateway: Gateway, count: int = 20) -> int:
        events = []
        for _ in range(count):
            self.sent += 1
            n = self.sent
            events.append(
                {
                    "event_id": f"bounce-{n}",
                    "type": "interaction.started",
                    "occurred_at": "2025-01-06T10:00:00+00:00",
                    "customer_id": f"c{n % 97}",
                    "interaction_id": f"i{n}",
                }
            )
        started = time.monotonic()
        answer = gateway.call("POST", "/v1/events", ndjson(events), NDJSON)
        self.slowest_s = max(self.slowest_s, time.monotonic() - started)
        self.statuses.append(answer.status)
        self.retry_after.append(answer.headers.get("Retry-After"))
        if answer.status == 202:
            self.acked.update(event["event_id"] for event in events)
        return answer.status


@pytest.mark.slow
def test_no_202_for_an_event_kafka_did_not_take(own_broker: OwnBroker, tmp_path: Path) -> None:
    topic = f"api-bounce-{os.getpid()}"
    env = {**os.environ, "CXPULSE_KAFKA_BOOTSTRAP": own_broker.bootstrap}
    gateway = make_gateway(
        env,
        tmp_path,
        CXPULSE_INPUT_TOPIC=topic,
        CXPULSE_API_LOOKUP="false",
        CXPULSE_API_KAFKA_TIMEOUT_S="4",
    )
    tally = Tally(acked=set(), statuses=[], retry_after=[])
    try:
        gateway.start()
        before = [tally.post(gateway) for _ in range(10)]
        assert before[-1] == 202, before
        own_broker.kill_9()
        outage_started = time.monotonic()
        during = []
        while time.monotonic() - outage_started < 10:
            during.append(tally.post(gateway))
        restarted = time.monotonic()
        own_broker.kafka_sh("start")
        restart_s = time.monotonic() - restarted
        back = [tally.post(gateway)]
        deadline = time.monotonic() + 60
        while back[-1] != 202 and time.monotonic() < deadline:
            back.append(tally.post(gateway))
        back += [tally.post(gateway) for _ in range(10)]
    finally:
        gateway.stop()

    in_kafka = {
        orjson.loads(value)["event_id"] for value in raw_records(own_broker.bootstrap, topic, 5.0)
    }
    print(
        f"\nbefore the kill: {before}\nduring the outage: {during}\n"
        f"broker restarted in {restart_s:.1f}s; after: {back}\n"
        f"{len(tally.acked)} events answered 202, {len(in_kafka)} in Kafka; slowest answer "
        f"{tally.slowest_s:.1f}s"
    )
    assert set(tally.statuses) <= {202, 503}
    assert 503 in during, "the outage was never noticed"
    assert all(
        after == "5"
        for status, after in zip(tally.statuses, tally.retry_after, strict=True)
        if status == 503
    )
    assert back[-10:] == [202] * 10, "the gateway did not recover with the broker"
    missing = tally.acked - in_kafka
    assert not missing, f"{len(missing)} events answered 202 are not in Kafka"
    assert tally.slowest_s < 15, "Twilio's deadline: answer within 15 s"


# --- fuzzing from the OpenAPI document ------------------------------------------------------

FUZZ_CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
)


def test_fuzzed_from_its_openapi_document_no_5xx_nothing_outside_the_document(
    api_worker: Worker, tmp_path: Path
) -> None:
    """schemathesis generates requests (valid and not) for every documented operation."""
    # Its own input and raw topics: fuzzed events that pass validation are not scored by the
    # module's worker.  Lookups read that worker's scores and alerts topics.
    gateway = make_gateway(
        api_worker.env,
        tmp_path,
        CXPULSE_INPUT_TOPIC=api_worker.topic("input") + "-fuzz",
        CXPULSE_RAW_TOPIC_PREFIX=api_worker.env["CXPULSE_RAW_TOPIC_PREFIX"] + "fuzz.",
    )
    try:
        gateway.start()
        started = time.monotonic()
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                gateway.url("/openapi.json"),
                "--checks",
                FUZZ_CHECKS,
                "--header",
                f"Authorization: Bearer {API_KEY}",
                "--header",
                f"{KEY_HEADER}: {WEBHOOK_KEYS['genesys-cloud']}",
                "--max-examples",
                "25",
                "--seed",
                "28",
                "--workers",
                "1",
                "--request-timeout",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        took_s = time.monotonic() - started
    finally:
        gateway.stop()
    summary = "\n".join(done.stdout.splitlines()[-25:])
    print(f"\nschemathesis ran {took_s:.1f}s:\n{summary}")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{gateway.log_tail()}"
    assert "passed" in done.stdout
    assert took_s < 60
    # Valid generated events went all the way into Kafka: the fuzzing reached the 202 path.
    bootstrap = api_worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    fuzzed = raw_records(bootstrap, gateway.env["CXPULSE_INPUT_TOPIC"], settle_s=2.0)
    print(f"{len(fuzzed)} fuzzed events accepted into Kafka")
    assert fuzzed
