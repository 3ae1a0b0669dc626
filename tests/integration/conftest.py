"""Integration fixtures: the real local broker and a real `cxpulse worker` process."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

import orjson
import pytest

BOOTSTRAP = os.environ.get("CXPULSE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def bootstrap() -> str:
    host, _, port = BOOTSTRAP.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            pass
    except OSError as exc:
        pytest.fail(
            f"no Kafka broker at {BOOTSTRAP} ({exc}); start one with "
            "`deploy/kafka/kafka.sh start` or run `make test`"
        )
    return BOOTSTRAP


def run_cxpulse(*args: str) -> None:
    """Run a `cxpulse` command to completion (simulate to a file, replay, …)."""
    subprocess.run(
        [sys.executable, "-m", "cxpulse.commands.cli", *args], check=True, cwd=REPO, timeout=120
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(kw_only=True)
class CommandProcess:
    """A long-running `cxpulse <command>` subprocess with an HTTP port, its output in a log."""

    command: ClassVar[str]
    env: dict[str, str]
    log_path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    def launch(self) -> None:
        """Start the process and return at once (a fault can then hit it while it starts)."""
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cxpulse.commands.cli", self.command],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )

    def wait_answering(self, path: str = "/readyz", timeout_s: float = 60.0) -> None:
        """Until ``path`` answers 200; fails with the log's tail if the process exits."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cxpulse {self.command} exited:\n{self.log_tail()}")
            if self.http_get(path)[0] == 200:
                return
            time.sleep(0.3)
        raise RuntimeError(
            f"cxpulse {self.command} not answering {path} in {timeout_s}s:\n{self.log_tail()}"
        )

    def http_get(self, path: str) -> tuple[int | None, str]:
        """Status and body of ``path`` (None and "" if the process does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return int(r.status), str(r.read().decode())
        except urllib.error.HTTPError as exc:
            return int(exc.code), str(exc.read().decode())
        except OSError:
            return None, ""

    def stop(self, sig: int = signal.SIGTERM, grace_s: float = 15.0) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self.log is not None:
            self.log.close()
            self.log = None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(kw_only=True)
class Worker(CommandProcess):
    """A `cxpulse worker` with its own topics, group and data dir."""

    command: ClassVar[str] = "worker"

    @property
    def web_port(self) -> int:
        return self.port

    def topic(self, name: str) -> str:
        return self.env[f"CXPULSE_{name.upper()}_TOPIC"]

    def start(self, ready_timeout_s: float = 90.0) -> None:
        self.launch()
        self.wait_ready(ready_timeout_s)

    def wait_ready(self, ready_timeout_s: float = 90.0) -> None:
        self.wait_answering("/readyz", ready_timeout_s)

    def http_status(self, path: str) -> int | None:
        return self.http_get(path)[0]

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())


def make_worker(bootstrap: str, tmp: Path, **overrides: str) -> Worker:
    run = uuid.uuid4().hex[:8]
    port = free_port()
    env = {
        **os.environ,
        "CXPULSE_KAFKA_BOOTSTRAP": bootstrap,
        "CXPULSE_APP_ID": f"cxpulse-test-{run}",
        "CXPULSE_INPUT_TOPIC": f"t{run}-interactions",
        "CXPULSE_EVENTS_TOPIC": f"t{run}-events",
        "CXPULSE_SUMMARIES_TOPIC": f"t{run}-summaries",
        "CXPULSE_ALERTS_TOPIC": f"t{run}-alerts",
        "CXPULSE_NOTICES_TOPIC": f"t{run}-notices",
        "CXPULSE_SCORES_TOPIC": f"t{run}-scores",
        "CXPULSE_INSIGHTS_TOPIC": f"t{run}-insights",
        "CXPULSE_DEAD_LETTER_TOPIC": f"t{run}-dead-letters",
        "CXPULSE_RAW_TOPIC_PREFIX": f"t{run}-raw.",
        "CXPULSE_DATA_DIR": str(tmp / "data"),
        "CXPULSE_WEB_PORT": str(port),
        "CXPULSE_PARTITIONS": "4",
        "CXPULSE_LOG_LEVEL": "info",
        # A killed worker's partitions move after this long (fault tests).
        "CXPULSE_SESSION_TIMEOUT_S": "8",
        **overrides,
    }
    return Worker(env=env, log_path=tmp / "worker.log", port=port)


def metric_total(text: str, name: str) -> float:
    """The sum of every sample of ``name`` in a Prometheus text exposition."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


def sibling(worker: Worker, tmp: Path) -> Worker:
    """Another worker of ``worker``'s app (same group, topics and tables), own port and disk."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**worker.env, "CXPULSE_WEB_PORT": str(port), "CXPULSE_DATA_DIR": str(tmp / "data")}
    return Worker(env=env, log_path=tmp / "worker.log", port=port)


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    running = make_worker(bootstrap, tmp_path_factory.mktemp("worker"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


# The seeded stream of the fault tests.
SEED, COUNT = 21, 6_000


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], set[str]]:
    """Simulated events and the alert ids `cxpulse replay` computes from them."""
    tmp = tmp_path_factory.mktemp("faults")
    events_file, alerts_file = tmp / "events.jsonl", tmp / "alerts.jsonl"
    run_cxpulse(
        "simulate", "--seed", str(SEED), "--count", str(COUNT), "--output", str(events_file)
    )
    run_cxpulse("replay", str(events_file), "--alerts", str(alerts_file))
    events = [orjson.loads(line) for line in events_file.read_bytes().splitlines()]
    alert_ids = {orjson.loads(line)["alert_id"] for line in alerts_file.read_bytes().splitlines()}
    return events, alert_ids


def assert_replay_alerts_once(streamed: list[dict[str, Any]], expected: set[str]) -> None:
    ids = [a["alert_id"] for a in streamed]
    assert set(ids) == expected, {
        "missing": len(expected - set(ids)),
        "extra (kinds)": sorted(a["kind"] for a in streamed if a["alert_id"] not in expected),
    }
    repeated = len(ids) - len(set(ids))
    print(f"{len(ids)} alerts, {repeated} published twice, none lost")
    assert repeated == 0, f"{repeated} alerts published twice (exactly-once)"


def seeded_shares(seed: int, count: int, low: float, high: float) -> list[float]:
    """``count`` shares in ``[low, high)``, one in the middle half of each equal slice at a
    seeded place: the points of a stream where a fault test strikes, spread out (two are at
    least half a slice apart) and the same on every run."""
    rng = random.Random(seed)
    slice_ = (high - low) / count
    return [round(low + slice_ * (i + 0.25 + rng.random() / 2), 3) for i in range(count)]


def share_params(seed: int, count: int, low: float, high: float) -> list[Any]:
    """``seeded_shares`` as pytest parameters named after the share (``at-37%``)."""
    return [pytest.param(s, id=f"at-{s:.0%}") for s in seeded_shares(seed, count, low, high)]


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
