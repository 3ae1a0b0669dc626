"""A real Kafka broker (KRaft, loopback only) whose client listener is SASL_SSL with SCRAM.

It uses the broker jars that ``deploy/kafka/kafka.sh`` caches under ``.cache/kafka``.  The
SCRAM user is created when the storage is formatted (``StorageTool format --add-scram``), so
the broker accepts logins from its first second.  A separate PLAINTEXT loopback listener
serves the broker's own inter-broker traffic.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaClient

from cxpulse.config.kafka_security import (
    KafkaAccessError,
    aiokafka_security_kwargs,
    check_broker_access,
)
from cxpulse.config.settings import Settings
from tests.integration.conftest import REPO, free_port
from tests.integration.sasl.certs import Pki

MECHANISM = "SCRAM-SHA-256"
# An upper bound on the broker's life even if the test process dies without its teardown.
MAX_LIFETIME_S = 900


def kafka_libs() -> Path:
    version = re.search(
        r"<kafka.version>(.*)</kafka.version>", (REPO / "deploy/kafka/pom.xml").read_text()
    )
    assert version, "deploy/kafka/pom.xml names no kafka.version"
    libs = REPO / ".cache" / "kafka" / version.group(1) / "libs"
    if not libs.is_dir():
        raise RuntimeError(f"no broker jars in {libs}: run `deploy/kafka/kafka.sh start` once")
    return libs


def server_properties(
    data: Path, pki: Pki, port: int, internal_port: int, controller_port: int
) -> str:
    jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
listeners=SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal_port}
listener.security.protocol.map=SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms={MECHANISM}
listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config={jaas}
ssl.keystore.type=PEM
ssl.keystore.location={pki.broker_keystore}
ssl.client.auth=none
log.dirs={data}
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
"""


@dataclass
class SecureBroker:
    directory: Path
    pki: Pki
    username: str
    password: str
    port: int = field(default_factory=free_port)
    internal_port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "broker.log"

    def client_env(self) -> dict[str, str]:
        """The CXPULSE_* variables of a client that may use this broker."""
        return {
            "CXPULSE_KAFKA_BOOTSTRAP": self.bootstrap,
            "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CXPULSE_KAFKA_SASL_MECHANISM": MECHANISM,
            "CXPULSE_KAFKA_SASL_USERNAME": self.username,
            "CXPULSE_KAFKA_SASL_PASSWORD": self.password,
            "CXPULSE_KAFKA_SSL_CAFILE": str(self.pki.ca),
        }

    def client_settings(self) -> Settings:
        """The same configuration as ``client_env``, for in-process clients."""
        values: dict[str, Any] = {
            key.removeprefix("CXPULSE_").lower(): value for key, value in self.client_env().items()
        }
        return Settings(**values)

    def _java(self, *args: str, timeout_s: float = 60) -> str:
        libs = kafka_libs()
        result = subprocess.run(
            ["java", "-Xmx256m", "-cp", f"{libs}/*", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout.strip()

    def start(self, ready_timeout_s: float = 90) -> None:
        properties = self.directory / "server.properties"
        properties.write_text(
            server_properties(
                self.directory / "data",
                self.pki,
                self.port,
                self.internal_port,
                self.controller_port,
            )
        )
        cluster_id = self._java("kafka.tools.StorageTool", "random-uuid").splitlines()[-1]
        self._java(
            "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties),
            "--add-scram", f"{MECHANISM}=[name={self.username},password={self.password}]",
        )  # fmt: skip
        log4j = REPO / "deploy" / "kafka" / "log4j2.yaml"
        command = [
            "timeout", "-s", "KILL", str(MAX_LIFETIME_S),
            "java", "-Xmx384m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.directory}",
            *([f"-Dlog4j2.configurationFile={log4j}"] if log4j.exists() else []),
            "-cp", f"{kafka_libs()}/*", "kafka.Kafka", str(properties),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(ready_timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        settings = self.client_settings()
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited during startup:\n{self.log_tail()}")
            if asyncio.run(sees_broker(settings)):
                return
            time.sleep(0.5)
        raise RuntimeError(f"broker not ready within {timeout_s} s:\n{self.log_tail()}")

    def stop(self, grace_s: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        texts = [
            path.read_text(errors="replace")
            for path in (self.log_path, self.directory / "server.log")
            if path.exists()
        ]
        return "\n".join("\n".join(text.splitlines()[-lines:]) for text in texts)


async def sees_broker(settings: Settings) -> bool:
    """True once a logged-in client gets cluster metadata naming the broker."""
    try:
        await check_broker_access(settings, timeout_s=5)
    except KafkaAccessError:
        return False
    client = AIOKafkaClient(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=5_000,
        **aiokafka_security_kwargs(settings),
    )
    try:
        await client.bootstrap()
        return bool((await client.fetch_all_metadata()).brokers())
    except Exception:  # still starting: the caller retries until its deadline
        return False
    finally:
        await client.close()
