"""deploy/kafka/kafka.sh on its own port and data dir: lifecycle, idempotence, a real round trip."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "kafka.sh"
PORT = 19192
CONTROLLER_PORT = 19193
# The first start may fetch the broker jars with Maven.
START_TIMEOUT_S = 240


def kafka_sh(
    command: str, env: dict[str, str], timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running_pid(status: subprocess.CompletedProcess[str]) -> int:
    match = re.search(r"\(pid (\d+)", status.stdout)
    assert match, status.stdout
    return int(match.group(1))


async def round_trip(bootstrap: str, payloads: list[bytes]) -> list[bytes]:
    topic = f"kafka-script-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for payload in payloads:
            await producer.send_and_wait(topic, payload, key=b"one-partition")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    received: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < len(payloads):
                record = await consumer.getone()
                received.append(record.value)
        await consumer.commit()
    finally:
        await consumer.stop()
    return received


@pytest.fixture
def broker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    if port_open(PORT) or port_open(CONTROLLER_PORT):
        pytest.fail(f"ports {PORT}/{CONTROLLER_PORT} are taken; this test needs them free")
    env = {
        **os.environ,
        "KAFKA_PORT": str(PORT),
        "KAFKA_CONTROLLER_PORT": str(CONTROLLER_PORT),
        "KAFKA_DATA_DIR": str(tmp_path / "kafka"),
    }
    try:
        yield env
    finally:
        kafka_sh("stop", env)


def test_start_round_trip_restart_is_noop_stop(broker_env: dict[str, str]) -> None:
    started = kafka_sh("start", {**broker_env, "KAFKA_CLEAN": "1"}, START_TIMEOUT_S)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "ready on 127.0.0.1:19192" in started.stdout

    status = kafka_sh("status", broker_env)
    assert status.returncode == 0, status.stdout
    pid = running_pid(status)

    payloads = [f"message {n}".encode() for n in range(5)]
    assert asyncio.run(round_trip(f"127.0.0.1:{PORT}", payloads)) == payloads

    again = kafka_sh("start", broker_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    assert running_pid(kafka_sh("status", broker_env)) == pid

    stopped = kafka_sh("stop", broker_env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    after = kafka_sh("status", broker_env)
    assert after.returncode == 1
    assert "not running" in after.stdout
    assert not pid_alive(pid)
    assert not port_open(PORT)
    assert not (Path(broker_env["KAFKA_DATA_DIR"]) / "kafka.pid").exists()


def test_start_refuses_a_port_held_by_another_process(broker_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", PORT))
        squatter.listen()
        result = kafka_sh("start", broker_env)
        status = kafka_sh("status", broker_env)
    assert result.returncode == 1
    assert f"port 127.0.0.1:{PORT} is in use by a process this script did not start" in (
        result.stderr
    )
    assert status.returncode == 1
    assert "not running" in status.stdout
