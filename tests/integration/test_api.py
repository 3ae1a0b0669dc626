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
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from cxpulse.agents.adapters import ADAPTERS
from cxpulse.api import auth
from tests.integration.conftest import REPO, Worker, free_port, make_worker
from tests.integration.kafka_io import collect, collect_ids

PAYLOADS = REPO / "tests" / "unit" / "agents" / "adapters" / "payloads"
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"
API_KEY = "integration-test-key-0001"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
ZENDESK_SECRET = "zendesk-signing-secret-for-tests"
WEBHOOK_KEYS = {
    "amazon-connect-ctr": "ctr-key-for-tests",
    "amazon-connect-events": "eventbridge-key-for-tests",
    "genesys-cloud": "genesys-key-for-tests",
}
KEY_HEADER = "X-Cxpulse-Webhook-Key"
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


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Gateway:
    """A `cxpulse gateway` subprocess."""

    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, wait_for: str = "/readyz", timeout_s: float = 60.0) -> None:
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cxpulse.agents.cli", "gateway"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gateway exited:\n{self.log_tail()}"
            try:
                if self.call("GET", wait_for).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gateway not answering {wait_for} in {timeout_s}s:\n{self.log_tail()}")

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
                return Answer(
                    response.status, dict(response.headers), orjson.loads(response.read())
                )
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), orjson.loads(exc.read()))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self.log is not None:
            self.log.close()
            self.log = None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


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

    # The lookups answer what the scores topic shows, once the gateway has read it.
    scores = latest_by_entity(collect(bootstrap, api_worker.topic("scores"), lambda rs: True))
    samples: dict[str, list[tuple[str, str]]] = {}
    for entity_type, entity_id in sorted(scores):
        samples.setdefault(entity_type, []).append((entity_type, entity_id))
    plural = {"customer": "customers", "agent": "agents", "queue": "queues", "service": "services"}
    chosen = [key for kind in plural for key in samples.get(kind, [])[:5]]
    assert {kind for kind, _ in chosen} >= {"customer", "agent", "queue"}
    deadline = time.monotonic() + 30
    mismatched = chosen
    while mismatched and time.monotonic() < deadline:
        mismatched = []
        for entity_type, entity_id in chosen:
            answer = gateway.call("GET", f"/v1/{plural[entity_type]}/{entity_id}", None, BEARER)
            if answer.status != 200 or answer.body["snapshot"] != scores[entity_type, entity_id]:
                mismatched.append((entity_type, entity_id))
        time.sleep(0.5)
    assert not mismatched, mismatched

    unknown = gateway.call("GET", "/v1/customers/nobody-at-all", None, BEARER)
    assert unknown.status == 404
    assert "no scores" in unknown.body["message"]

    incidents = gateway.call("GET", "/v1/incidents?status=all", None, BEARER)
    assert incidents.status == 200
    group_keys = {a["group_key"] for a in alerts}
    assert {i["group_key"] for i in incidents.body["incidents"]} == group_keys
    firing = gateway.call("GET", "/v1/incidents", None, BEARER)
    assert all(i["status"] == "firing" for i in firing.body["incidents"])


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
