"""cxpulse against a real Kafka 4 broker that only speaks SASL_SSL (SCRAM-SHA-256 over TLS).

The broker gets throwaway certificates and a SCRAM user at format time; clients trust the
test CA.  Checked: aiokafka clients round-trip with ``aiokafka_security_kwargs``; the worker
runs end to end over SASL_SSL; wrong password, untrusted CA and wrong protocol end the CLI
quickly with one clear line; and the password shows up neither in logs nor in /metrics.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cxpulse.config.kafka_security import aiokafka_security_kwargs
from cxpulse.config.settings import Settings
from tests.integration.conftest import REPO, make_worker
from tests.integration.sasl.broker import SecureBroker
from tests.integration.sasl.certs import make_pki

pytestmark = pytest.mark.slow

# Random per run, so that finding it anywhere means it leaked from this run's configuration.
PASSWORD = f"pw-{uuid.uuid4().hex}"
CLI_DEADLINE_S = 20


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    directory = tmp_path_factory.mktemp("sasl-ssl")
    running = SecureBroker(directory, make_pki(directory), "cxpulse", PASSWORD)
    try:
        running.start()
        yield running
    finally:
        running.stop()


async def _produce(settings: Settings, topic: str, payloads: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        **aiokafka_security_kwargs(settings),
    )
    await producer.start()
    try:
        for payload in payloads:
            await producer.send_and_wait(topic, payload)
    finally:
        await producer.stop()


async def _read(
    settings: Settings, topic: str, enough: Callable[[list[bytes]], bool], timeout_s: float
) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        **aiokafka_security_kwargs(settings),
    )
    await consumer.start()
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not enough(values):
            batch = await consumer.getmany(timeout_ms=500)
            values.extend(record.value for records in batch.values() for record in records)
    finally:
        await consumer.stop()
    return values


async def _create_topic(settings: Settings, name: str) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **aiokafka_security_kwargs(settings)
    )
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


def test_aiokafka_clients_round_trip_over_sasl_ssl(broker: SecureBroker) -> None:
    settings = broker.client_settings()
    topic = f"round-trip-{uuid.uuid4().hex[:8]}"
    payloads = [b"one", b"two", b"three"]
    asyncio.run(_create_topic(settings, topic))
    asyncio.run(_produce(settings, topic, payloads))
    received = asyncio.run(_read(settings, topic, lambda vs: len(vs) >= 3, timeout_s=30))
    assert received == payloads


def run_topics_command(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cxpulse.commands.cli", "topics"],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CLI_DEADLINE_S + 30,
        check=False,
    )
    return result, time.monotonic() - started


def test_topics_command_works_with_the_right_credentials(
    broker: SecureBroker, tmp_path: Path
) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    env = broker.client_env()
    del env["CXPULSE_KAFKA_SASL_PASSWORD"]
    env["CXPULSE_KAFKA_SASL_PASSWORD_FILE"] = str(password_file)
    env["CXPULSE_INPUT_TOPIC"] = f"right-{uuid.uuid4().hex[:8]}"
    result, _ = run_topics_command(env)
    assert result.returncode == 0, result.stderr
    assert env["CXPULSE_INPUT_TOPIC"] in result.stdout


MISCONFIGURATIONS: dict[str, tuple[Callable[[SecureBroker], dict[str, str]], str]] = {
    "wrong password": (
        lambda b: {"CXPULSE_KAFKA_SASL_PASSWORD": "not-the-password"},
        "SASL authentication failed",
    ),
    "untrusted CA": (
        lambda b: {"CXPULSE_KAFKA_SSL_CAFILE": str(b.pki.other_ca)},
        "SSL verify failed",
    ),
    "TLS without SASL": (
        lambda b: {
            "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SSL",
            "CXPULSE_KAFKA_SASL_USERNAME": "",
            "CXPULSE_KAFKA_SASL_PASSWORD": "",
        },
        "CXPULSE_KAFKA_SECURITY_PROTOCOL",
    ),
    "plaintext": (
        lambda b: {
            "CXPULSE_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
            "CXPULSE_KAFKA_SASL_USERNAME": "",
            "CXPULSE_KAFKA_SASL_PASSWORD": "",
            "CXPULSE_KAFKA_SSL_CAFILE": "",
        },
        "CXPULSE_KAFKA_SECURITY_PROTOCOL",
    ),
}


@pytest.mark.parametrize("case", MISCONFIGURATIONS)
def test_misconfigured_client_fails_fast_with_one_clear_line(
    broker: SecureBroker, case: str
) -> None:
    change, words = MISCONFIGURATIONS[case]
    result, elapsed = run_topics_command({**broker.client_env(), **change(broker)})
    assert result.returncode != 0
    assert elapsed < CLI_DEADLINE_S
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0]
    assert PASSWORD not in result.stdout + result.stderr


def _score_events(customer: str) -> list[bytes]:
    base = {
        "customer_id": customer,
        "interaction_id": f"{customer}-i1",
        "channel": "voice",
        "queue_id": "q-billing",
        "agent_id": "a-ann",
        "source": "sasl-test",
    }
    events: list[dict[str, Any]] = [
        {
            **base,
            "event_id": f"{customer}-1",
            "type": "interaction.started",
            "occurred_at": "2026-03-02T09:00:00Z",
        },
        {
            **base,
            "event_id": f"{customer}-2",
            "type": "interaction.ended",
            "occurred_at": "2026-03-02T09:09:00Z",
            "outcome": "resolved",
            "wait_seconds": 40,
            "handle_seconds": 420,
            "hold_seconds": 0,
            "transfers": 0,
        },
    ]
    return [orjson.dumps(event) for event in events]


def test_pipeline_runs_over_sasl_ssl_and_never_shows_the_password(
    broker: SecureBroker, tmp_path: Path
) -> None:
    worker = make_worker(broker.bootstrap, tmp_path, **broker.client_env())
    settings = broker.client_settings()
    worker.start(ready_timeout_s=120)
    try:
        customer = f"cust-{uuid.uuid4().hex[:6]}"
        malformed = b'{"event_id": "sasl-bad", "type": '
        asyncio.run(
            _produce(settings, worker.topic("input"), [*_score_events(customer), malformed])
        )

        def mine(values: list[bytes]) -> list[dict[str, Any]]:
            return [r for r in map(orjson.loads, values) if r.get("entity_id") == customer]

        scores = asyncio.run(
            _read(settings, worker.topic("scores"), lambda vs: bool(mine(vs)), timeout_s=60)
        )
        letters = asyncio.run(_read(settings, worker.topic("dead_letter"), bool, timeout_s=30))
        metrics = worker.metrics_text()
    finally:
        worker.stop()
    assert mine(scores), "no score snapshot for the customer over SASL_SSL"
    assert [orjson.loads(v)["error"]["reason"] for v in letters] == ["invalid_json"]
    assert "cxpulse_" in metrics
    assert PASSWORD not in metrics
    assert PASSWORD not in worker.log_path.read_text(errors="replace")
