"""Fault injection on the real broker: a stop, a crash or a rebalance loses no alert and
repeats none.

Exactly-once, the default: outputs, state and input offsets commit in one transaction, so
after a kill -9 the aborted work is done again and read_committed consumers see each alert
once.  Each test ends with exactly the alert ids `cxpulse replay` computes.

Each fault strikes at several seeded points of the stream (shares of the expected alerts
already out), the same on every run: a fault at one fixed moment passes while a narrower
window around it goes untested (issue #34).  Two points per fault keep the suite short;
bench/soak.py kills at many more.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.steps import metric_values
from tests.integration.conftest import (
    Worker,
    assert_replay_alerts_once,
    make_worker,
    seeded_shares,
    share_params,
    sibling,
)
from tests.integration.kafka_io import collect, collect_ids, produce_events

pytestmark = pytest.mark.slow

#: A worker restarted with its state is ready well within this (process start included).
RESTART_READY_S = 9.0
#: Points per fault, and the range of shares of the expected alerts they fall in.
POINTS, FIRST, LAST = 2, 0.1, 0.8


@pytest.fixture
def first_worker(bootstrap: str, tmp_path: Path) -> Iterator[Worker]:
    running = make_worker(bootstrap, tmp_path)
    try:
        yield running
    finally:
        running.stop(signal.SIGKILL)


def stream_until(
    worker: Worker, scenario: tuple[list[dict[str, Any]], set[str]], share: float
) -> tuple[str, str, list[dict[str, Any]]]:
    """Start ``worker``, send it the scenario and return once ``share`` of the alerts is out
    (the rest still being scored): bootstrap, alerts topic and the alerts so far."""
    events, expected = scenario
    bootstrap = worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    alerts_topic = worker.topic("alerts")
    worker.start()
    produce_events(bootstrap, worker.topic("input"), events)
    wanted = max(1, round(len(expected) * share))
    partial = collect(bootstrap, alerts_topic, until=lambda rs: len(rs) >= wanted, settle_s=0)
    return bootstrap, alerts_topic, partial


@pytest.mark.parametrize("share", share_params(91, POINTS, FIRST, LAST))
def test_kill_9_mid_stream_then_restart_loses_no_alert(
    first_worker: Worker, scenario: tuple[list[dict[str, Any]], set[str]], share: float
) -> None:
    expected = scenario[1]
    bootstrap, alerts_topic, partial = stream_until(first_worker, scenario, share)
    first_worker.stop(signal.SIGKILL)
    assert len({a["alert_id"] for a in partial}) < len(expected), "crashed too late to matter"

    started = time.monotonic()
    first_worker.start()
    streamed = collect_ids(bootstrap, alerts_topic, expected)
    print(
        f"recovered and finished in {time.monotonic() - started:.1f}s; "
        f"{len(partial)} alerts before the crash, {len(streamed)} in all"
    )
    assert_replay_alerts_once(streamed, expected)


@pytest.mark.parametrize("share", share_params(15, POINTS, FIRST, LAST))
def test_sigterm_mid_stream_stops_promptly_and_a_restart_resumes_without_repeats(
    first_worker: Worker, scenario: tuple[list[dict[str, Any]], set[str]], share: float
) -> None:
    expected = scenario[1]
    bootstrap, alerts_topic, _ = stream_until(first_worker, scenario, share)
    started = time.monotonic()
    first_worker.stop(signal.SIGTERM, grace_s=30)
    stop_s = time.monotonic() - started
    assert first_worker.process is not None
    assert first_worker.process.returncode == 0, first_worker.log_tail()
    print(f"SIGTERM: worker stopped in {stop_s:.1f}s")

    started = time.monotonic()
    first_worker.start()
    ready_s = time.monotonic() - started
    print(f"restarted and ready in {ready_s:.1f}s")
    # faust alone waits two 5 s timeouts for the transaction marker that ends a changelog
    assert ready_s < RESTART_READY_S, first_worker.log_tail()
    streamed = collect_ids(bootstrap, alerts_topic, expected)
    assert "did not stop cleanly" not in first_worker.log_path.read_text(), (
        "a clean stop must keep the local store"
    )
    assert_replay_alerts_once(streamed, expected)


@pytest.fixture
def second_worker(first_worker: Worker, tmp_path: Path) -> Iterator[Worker]:
    """A second worker of the same app (same group, topics and tables), own port and disk."""
    second = sibling(first_worker, tmp_path / "second")
    try:
        yield second
    finally:
        second.stop(signal.SIGKILL)


#: (join, death) pairs: a second worker joins once the first share of the alerts is out, and
#: the first one is killed at the second share.
JOIN_THEN_DEATH = [
    pytest.param(join, death, id=f"join-at-{join:.0%}-death-at-{death:.0%}")
    for join, death in zip(
        seeded_shares(52, POINTS, FIRST, 0.4), seeded_shares(53, POINTS, 0.45, LAST), strict=True
    )
]


@pytest.mark.parametrize(("join", "death"), JOIN_THEN_DEATH)
def test_a_worker_joining_then_one_dying_mid_stream_loses_no_alert(
    first_worker: Worker,
    second_worker: Worker,
    scenario: tuple[list[dict[str, Any]], set[str]],
    join: float,
    death: float,
) -> None:
    events, expected = scenario
    bootstrap = first_worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    alerts_topic = first_worker.topic("alerts")
    first_worker.start()
    produce_events(bootstrap, first_worker.topic("input"), events)
    joined, died = (max(1, round(len(expected) * share)) for share in (join, death))
    collect(bootstrap, alerts_topic, until=lambda rs: len(rs) >= joined, settle_s=0)
    second_worker.start()  # rebalance: partitions move to the newcomer
    collect(bootstrap, alerts_topic, until=lambda rs: len(rs) >= died, settle_s=0)
    first_worker.stop(signal.SIGKILL)  # rebalance again: the survivor takes everything
    streamed = collect_ids(bootstrap, alerts_topic, expected)
    assert_replay_alerts_once(streamed, expected)


def test_after_a_worker_joins_both_score_and_commit(
    first_worker: Worker, second_worker: Worker, scenario: tuple[list[dict[str, Any]], set[str]]
) -> None:
    """A rebalance ends the open transactions (faust's ``wait_empty``); the worker that
    kept partitions must go on committing new ones.  It once took that for the last
    commit of a shutdown and never committed again: its alerts never became visible."""
    events, expected = scenario
    bootstrap = first_worker.env["CXPULSE_KAFKA_BOOTSTRAP"]
    first_worker.start()
    second_worker.start()  # rebalance: the partitions are shared, both workers keep running
    produce_events(bootstrap, first_worker.topic("input"), events)
    streamed = collect_ids(bootstrap, first_worker.topic("alerts"), expected, timeout_s=120)
    assert_replay_alerts_once(streamed, expected)
    batches = [
        metric_values(worker.metrics_text(), "cxpulse_processing_seconds_count")
        for worker in (first_worker, second_worker)
    ]
    scored = [counts.get('{agent="scorer"}', 0) for counts in batches]
    assert all(count > 0 for count in scored), f"scorer batches per worker: {scored}"
