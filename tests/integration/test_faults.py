"""Fault injection on the real broker: a crash or a rebalance loses no alert.

At least once, the default: after a kill -9 the records since the last commit are scored
again, so an alert may be published a second time under the same deterministic id (the
tests print how many). Consumers dedupe on ``alert_id``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.conftest import Worker, free_port, make_worker, run_cxpulse
from tests.integration.kafka_io import collect, collect_ids, produce_events

pytestmark = pytest.mark.slow

SEED, COUNT = 21, 6_000


@pytest.fixture(scope="module")
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


@pytest.fixture
def first_worker(bootstrap: str, tmp_path: Path) -> Iterator[Worker]:
    running = make_worker(bootstrap, tmp_path)
    try:
        yield running
    finally:
        running.stop(signal.SIGKILL)


def test_kill_9_mid_stream_then_restart_loses_no_alert(
    first_worker: Worker, scenario: tuple[list[dict[str, Any]], set[str]]
) -> None:
    events, expected = scenario
    bootstrap = first_worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    alerts_topic = first_worker.topic("alerts")
    first_worker.start()
    produce_events(bootstrap, first_worker.topic("input"), events)

    # Crash once a fair share of the alerts is out, while the rest is still being scored.
    partial = collect(
        bootstrap, alerts_topic, until=lambda rs: len(rs) >= len(expected) // 4, settle_s=0
    )
    first_worker.stop(signal.SIGKILL)
    assert len({a["alert_id"] for a in partial}) < len(expected), "crashed too late to matter"

    started = time.monotonic()
    first_worker.start()
    streamed = collect_ids(bootstrap, alerts_topic, expected)
    print(
        f"recovered and finished in {time.monotonic() - started:.1f}s; "
        f"{len(partial)} alerts before the crash, {len(streamed)} in all"
    )
    assert_no_alert_lost(streamed, expected)


def assert_no_alert_lost(streamed: list[dict[str, Any]], expected: set[str]) -> None:
    ids = [a["alert_id"] for a in streamed]
    assert set(ids) == expected, {
        "missing": len(expected - set(ids)),
        "extra": len(set(ids) - expected),
    }
    print(f"{len(ids) - len(set(ids))} alerts published twice, none lost")


def sibling(worker: Worker, tmp: Path) -> Worker:
    """A second worker of the same app (same group, topics and tables), own port and disk."""
    port = free_port()
    env = {**worker.env, "CXPULSE_WEB_PORT": str(port), "CXPULSE_DATA_DIR": str(tmp / "data")}
    return Worker(env=env, log_path=tmp / "worker.log", web_port=port)


def test_a_worker_joining_then_one_dying_mid_stream_loses_no_alert(
    first_worker: Worker, scenario: tuple[list[dict[str, Any]], set[str]], tmp_path: Path
) -> None:
    events, expected = scenario
    bootstrap = first_worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    alerts_topic = first_worker.topic("alerts")
    second = sibling(first_worker, tmp_path / "second")
    (tmp_path / "second").mkdir()
    first_worker.start()
    try:
        produce_events(bootstrap, first_worker.topic("input"), events)
        collect(bootstrap, alerts_topic, until=lambda rs: len(rs) >= len(expected) // 5, settle_s=0)
        second.start()  # rebalance: partitions move to the newcomer
        collect(bootstrap, alerts_topic, until=lambda rs: len(rs) >= len(expected) // 2, settle_s=0)
        first_worker.stop(signal.SIGKILL)  # rebalance again: the survivor takes everything
        streamed = collect_ids(bootstrap, alerts_topic, expected)
    finally:
        second.stop(signal.SIGKILL)
    assert_no_alert_lost(streamed, expected)
