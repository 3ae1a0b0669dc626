"""A Kafka broker of a test's own (deploy/kafka/kafka.sh on free ports and a temporary data
dir), for the tests that stop or kill one: the shared broker must stay up."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import REPO, free_port

KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"
# Two busy cores: give the broker more than kafka.sh's default 60 s to come up.
BROKER_START_TIMEOUT_S = 90


@dataclass
class OwnBroker:
    env: dict[str, str]
    bootstrap: str
    data_dir: Path

    def kafka_sh(self, command: str) -> str:
        done = subprocess.run(
            [str(KAFKA_SH), command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=BROKER_START_TIMEOUT_S + 60,
            check=False,
        )
        assert done.returncode == 0, f"kafka.sh {command}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def start(self) -> float:
        """Start (or restart on the same data dir); seconds until kafka.sh called it ready."""
        started = time.monotonic()
        out = self.kafka_sh("start")
        assert "ready on" in out, out
        return time.monotonic() - started

    def stop(self) -> None:
        """Graceful: SIGTERM, the broker shuts down cleanly (kafka.sh stop)."""
        self.kafka_sh("stop")

    def kill_9(self) -> None:
        """Hard: SIGKILL the broker's pid from its pid file, no shutdown at all."""
        pid = int((self.data_dir / "kafka.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.1)
        assert not pid_alive(pid), f"broker pid {pid} survived SIGKILL"


def pid_alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@contextmanager
def own_broker_in(directory: Path) -> Iterator[OwnBroker]:
    """A started broker with its data under ``directory``, stopped at the end."""
    port, controller_port = free_port(), free_port()
    while controller_port == port:
        controller_port = free_port()
    data_dir = directory / "kafka"
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
        "KAFKA_DATA_DIR": str(data_dir),
        "KAFKA_START_TIMEOUT": str(BROKER_START_TIMEOUT_S),
    }
    broker = OwnBroker(env=env, bootstrap=f"127.0.0.1:{port}", data_dir=data_dir)
    try:
        broker.start()
        yield broker
    finally:
        subprocess.run(
            [str(KAFKA_SH), "stop"], env=env, capture_output=True, timeout=60, check=False
        )
