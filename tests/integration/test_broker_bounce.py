"""Fault injection on the broker itself: stopping and restarting it mid-stream loses no alert.

The test runs its own single-node broker (deploy/kafka/kafka.sh on free ports and a temporary
data dir), because the shared broker of the other integration tests must not go down. The
worker is left running through the outage: it has to ride it out, not crash, and once the
broker is back on the same data dir the alert set must still equal `cxpulse replay`'s, each
alert published once.

Each way down (a graceful stop and a kill -9) strikes at two seeded points of the stream,
shares of the expected alerts already out, the same on every run (issue #34).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    Worker,
    assert_replay_alerts_once,
    make_worker,
    seeded_shares,
)
from tests.integration.kafka_io import collect, produce_events
from tests.integration.own_broker import OwnBroker, own_broker_in

pytestmark = pytest.mark.slow

# How long the worker runs with no broker at all.
OUTAGE_S = 6.0
# From the restart of the broker to the last expected alert.
RECOVERY_TIMEOUT_S = 100.0
# Readiness can come later than the alerts: a worker whose session expired in the outage
# rejoins its group and recovers its tables first.
READY_AGAIN_TIMEOUT_S = 120.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (NaN once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    with own_broker_in(tmp_path_factory.mktemp("bounce-broker")) as broker:
        yield broker


@pytest.fixture
def bounce_worker(own_broker: OwnBroker, tmp_path: Path) -> Iterator[Worker]:
    running = make_worker(own_broker.bootstrap, tmp_path)
    try:
        yield running
    finally:
        running.stop(signal.SIGKILL)


# Worker log lines worth showing from the outage on: warnings, errors, exceptions.
NOTEWORTHY = re.compile(r"\b(WARNING|ERROR|CRITICAL|Error|Exception)\b")


def outage_digest(log_text: str, limit: int = 12) -> str:
    """Distinct noteworthy worker log lines (timestamps and numbers folded), with counts."""
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for line in log_text.splitlines():
        if not NOTEWORTHY.search(line):
            continue
        shape = re.sub(r"\d+", "N", line)[:200]
        counts[shape] = counts.get(shape, 0) + 1
        first.setdefault(shape, line[:300])
    ranked = sorted(counts, key=lambda shape: -counts[shape])[:limit]
    return "\n".join(f"  {counts[shape]:>4} x {first[shape]}" for shape in ranked)


#: (how the broker goes down, share of the expected alerts out by then), two points each.
BOUNCES = [
    pytest.param(how, share, id=f"{how}-at-{share:.0%}")
    for how, seed in (("graceful-stop", 71), ("kill-9", 72))
    for share in seeded_shares(seed, 2, 0.1, 0.7)
]


@pytest.mark.parametrize(("how", "share"), BOUNCES)
def test_broker_bounce_mid_stream_loses_no_alert_and_worker_survives(
    how: str,
    share: float,
    own_broker: OwnBroker,
    bounce_worker: Worker,
    scenario: tuple[list[dict[str, Any]], set[str]],
) -> None:
    events, expected = scenario
    bootstrap = own_broker.bootstrap
    alerts_topic = bounce_worker.topic("alerts")
    bounce_worker.start()
    assert bounce_worker.process is not None
    produce_events(bootstrap, bounce_worker.topic("input"), events)

    wanted = max(1, round(len(expected) * share))
    partial = collect(bootstrap, alerts_topic, until=lambda rs: len(rs) >= wanted, settle_s=0)
    log_offset = bounce_worker.log_path.stat().st_size
    cpu_before = cpu_seconds(bounce_worker.process.pid)
    down_at = time.monotonic()
    if how == "kill-9":
        own_broker.kill_9()
    else:
        own_broker.stop()
    stopped_in = time.monotonic() - down_at
    assert len({a["alert_id"] for a in partial}) < len(expected), "bounced too late to matter"

    time.sleep(OUTAGE_S)
    alive_in_outage = bounce_worker.process.poll() is None
    outage_cpu = cpu_seconds(bounce_worker.process.pid) - cpu_before
    outage_wall = time.monotonic() - down_at
    health_in_outage = bounce_worker.http_status("/healthz")
    ready_in_outage = bounce_worker.http_status("/readyz")

    restart_s = own_broker.start()
    back_at = time.monotonic()
    # collect_ids, except that a dead worker ends the wait at once: nothing more will come.
    process = bounce_worker.process
    streamed = collect(
        bootstrap,
        alerts_topic,
        until=lambda rs: {a["alert_id"] for a in rs} >= expected or process.poll() is not None,
        timeout_s=RECOVERY_TIMEOUT_S,
        settle_s=3.0,
    )
    finished_s = time.monotonic() - back_at

    with bounce_worker.log_path.open("rb") as log:
        log.seek(log_offset)
        outage_log = log.read().decode(errors="replace")
    exit_code = bounce_worker.process.poll()
    print(
        f"\n[{how} at {share:.0%}] {len(partial)} alerts before the bounce; "
        f"broker down in {stopped_in:.1f}s, "
        f"{OUTAGE_S:.0f}s outage (worker alive={alive_in_outage}, /healthz={health_in_outage}, "
        f"/readyz={ready_in_outage}, worker CPU {outage_cpu:.1f}s in {outage_wall:.1f}s); "
        f"broker ready again in {restart_s:.1f}s; "
        f"all expected alerts {finished_s:.1f}s after that; {len(streamed)} alerts in all; "
        f"worker exit code now {exit_code}\n"
        f"worker log from the bounce on, noteworthy lines:\n{outage_digest(outage_log)}"
    )
    assert exit_code is None, (
        f"the worker died during the broker outage (exit code {exit_code}):\n"
        f"{bounce_worker.log_tail(60)}"
    )
    assert_replay_alerts_once(streamed, expected)
    assert health_in_outage == 200, "alive through the outage"
    assert ready_in_outage == 503, "not ready while no broker answers"
    ready_again = wait_for_status(bounce_worker, "/readyz", 200, READY_AGAIN_TIMEOUT_S)
    assert ready_again == 200, f"/readyz still {bounce_worker.http_get('/readyz')}"


def wait_for_status(worker: Worker, path: str, wanted: int, timeout_s: float) -> int | None:
    """Poll ``path`` until it answers ``wanted``; returns the last status seen."""
    deadline = time.monotonic() + timeout_s
    status = worker.http_status(path)
    while status != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
        status = worker.http_status(path)
    return status
