"""The commit gate and the clean-stop marker behind exactly-once processing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from faust.types import TP
from mode.utils.locks import Event
from prometheus_client import CollectorRegistry

from cxpulse.config.settings import Settings
from cxpulse.engine.partition_batches import PartitionBatches
from cxpulse.engine.transactions import (
    CLEAN_STOP_MARKER,
    CommitGate,
    GatedConsumer,
    discard_unclean_store,
    mark_clean_stop,
    skipped_after_offset_zero,
)
from cxpulse.metrics import Metrics
from cxpulse.worker.app import build_pipeline


def test_a_commit_waits_for_the_batches_in_flight() -> None:
    async def scenario() -> list[str]:
        gate, log = CommitGate(), []
        batch_may_end = asyncio.Event()

        async def batch() -> None:
            async with gate.batch():
                log.append("batch starts")
                await batch_may_end.wait()
                log.append("batch ends")

        async def commit() -> None:
            async with gate.commit():
                log.append("commit")

        running = asyncio.create_task(batch())
        await asyncio.sleep(0)
        committing = asyncio.create_task(commit())
        await asyncio.sleep(0.01)
        assert log == ["batch starts"], "the commit ran while a batch was in flight"
        batch_may_end.set()
        await asyncio.gather(running, committing)
        return log

    assert asyncio.run(scenario()) == ["batch starts", "batch ends", "commit"]


def test_no_batch_starts_while_a_commit_waits_or_runs() -> None:
    async def scenario() -> list[str]:
        gate, log = CommitGate(), []
        first_may_end = asyncio.Event()

        async def batch(name: str, until: asyncio.Event | None = None) -> None:
            async with gate.batch():
                log.append(f"{name} starts")
                if until is not None:
                    await until.wait()

        async def commit() -> None:
            async with gate.commit():
                log.append("commit starts")
                await asyncio.sleep(0.01)
                log.append("commit ends")

        first = asyncio.create_task(batch("first", first_may_end))
        await asyncio.sleep(0)
        committing = asyncio.create_task(commit())
        await asyncio.sleep(0)
        second = asyncio.create_task(batch("second"))  # arrives while the commit waits
        await asyncio.sleep(0.01)
        first_may_end.set()
        await asyncio.gather(first, committing, second)
        return log

    assert asyncio.run(scenario()) == [
        "first starts",
        "commit starts",
        "commit ends",
        "second starts",
    ]


def test_a_batch_ended_by_an_exception_marks_the_gate_interrupted() -> None:
    async def scenario() -> CommitGate:
        gate = CommitGate()
        async with gate.batch():
            pass
        assert not gate.interrupted
        with pytest.raises(asyncio.CancelledError):
            async with gate.batch():
                raise asyncio.CancelledError
        async with gate.commit():  # the gate is idle again: a commit is not blocked
            pass
        return gate

    assert asyncio.run(scenario()).interrupted


def _store(tabledir: Path) -> Path:
    db = tabledir / "customers-0.db"
    db.mkdir(parents=True)
    (db / "CURRENT").write_text("MANIFEST-000001\n")
    return db


def test_a_store_left_without_a_clean_stop_is_discarded(tmp_path: Path) -> None:
    tabledir = tmp_path / "tables"
    _store(tabledir)
    assert discard_unclean_store(tabledir)
    assert not tabledir.exists()


def test_a_store_left_by_a_clean_stop_is_kept_and_its_marker_consumed(tmp_path: Path) -> None:
    tabledir = tmp_path / "tables"
    db = _store(tabledir)
    mark_clean_stop(tabledir)
    assert not discard_unclean_store(tabledir)
    assert db.exists()
    assert not (tabledir / CLEAN_STOP_MARKER).exists(), "a crash of the next run must count"
    assert discard_unclean_store(tabledir), "no clean stop since: discarded"


@pytest.mark.parametrize("make", [False, True], ids=["missing", "empty"])
def test_nothing_to_discard_without_a_store(tmp_path: Path, make: bool) -> None:
    tabledir = tmp_path / "tables"
    if make:
        tabledir.mkdir()
    assert not discard_unclean_store(tabledir)


def bare_consumer() -> GatedConsumer:
    """A GatedConsumer with only the state its fetch and hand-off read (no app, no Kafka)."""
    consumer: Any = object.__new__(GatedConsumer)
    consumer._loop = asyncio.get_running_loop()
    consumer.suspend_flow = Event()
    consumer._stopped = Event()
    consumer._crashed = Event()
    consumer._read_offset = {}
    consumer._batches = PartitionBatches(CommitGate(), 10)
    return cast(GatedConsumer, consumer)


class WaitingThread:
    """Stands in for faust's consumer thread: reads the partitions once its fetch returns."""

    def __init__(self) -> None:
        self.may_return = asyncio.Event()

    async def getmany(self, partitions: set[str], timeout: float) -> dict[str, list[Any]]:  # noqa: ARG002
        await self.may_return.wait()
        return {partition: [] for partition in partitions}


def test_a_fetch_is_for_the_partitions_active_when_it_began() -> None:
    """faust's live set may empty while the fetch waits; aiokafka reads empty as *all*."""

    async def scenario() -> set[str]:
        consumer, thread = bare_consumer(), WaitingThread()
        cast(Any, consumer)._thread = thread
        active = {"customers-changelog-0", "customers-changelog-1"}
        fetching = asyncio.create_task(consumer._getmany(active, timeout=1.0))
        await asyncio.sleep(0)
        active.clear()  # recovery pauses the changelogs; the streams are still held back
        thread.may_return.set()
        return set(await fetching)

    assert asyncio.run(scenario()) == {"customers-changelog-0", "customers-changelog-1"}


def test_a_message_the_streams_take_at_once_is_handed_on_in_the_fetch_loops_task() -> None:
    async def scenario() -> tuple[bool, list[object]]:
        consumer, ran_in = bare_consumer(), []

        async def deliver() -> str:
            ran_in.append(asyncio.current_task())
            return "queued"

        results = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        return ran_in == [asyncio.current_task()], results.results

    assert asyncio.run(scenario()) == (True, ["queued"])


def test_a_message_that_must_wait_is_handed_on_once_it_can_be() -> None:
    async def scenario() -> list[object]:
        consumer = bare_consumer()
        space = asyncio.get_running_loop().create_future()

        async def deliver() -> object:
            return await space

        asyncio.get_running_loop().call_later(0.01, space.set_result, "queued")
        results = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        return results.results

    assert asyncio.run(scenario()) == ["queued"]


def test_a_suspended_flow_ends_a_waiting_hand_off_as_faust_does() -> None:
    async def scenario() -> tuple[list[object], list[str]]:
        consumer, log = bare_consumer(), []

        async def deliver() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                log.append("hand-off cancelled")
                raise

        asyncio.get_running_loop().call_later(0.01, consumer.suspend_flow.set)
        results = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        await asyncio.sleep(0)
        return results.results, log

    assert asyncio.run(scenario()) == ([True], ["hand-off cancelled"])


def test_while_the_flow_is_suspended_the_hand_off_is_faust_s_own() -> None:
    async def scenario() -> bool:
        consumer, ran_in = bare_consumer(), []
        consumer.suspend_flow.set()

        async def deliver() -> None:
            ran_in.append(asyncio.current_task())

        await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        return ran_in == [asyncio.current_task()]

    assert asyncio.run(scenario()) is False


def test_a_transactional_commit_is_recorded_where_fausts_livelock_check_reads_it(
    tmp_path: Path,
) -> None:
    """Otherwise, five minutes after start, a busy worker logged every partition as never
    committed (faust's ``verify_event_path``), four times a second."""
    settings = Settings(data_dir=str(tmp_path), processing_guarantee="exactly_once")
    tp = TP("interactions", 2)

    async def commit_times() -> dict[Any, float]:
        consumer: Any = build_pipeline(settings, Metrics(CollectorRegistry())).app.consumer
        committed: list[Any] = []

        async def commit_transactions(offsets: Any, **kwargs: Any) -> bool:
            committed.append(dict(offsets))
            return True

        consumer.in_transaction = True  # as in a worker: faust sets it from app.in_worker
        consumer.assignment = lambda: {tp}
        consumer.transactions.commit = commit_transactions  # the broker's part
        try:
            assert await consumer._commit_offsets({tp: 41})
        finally:
            consumer._thread.thread_loop.close()  # made with the app, never started
        assert committed == [{tp: 41}]
        return dict(consumer._thread.tp_last_committed_at)

    before = time.monotonic()
    recorded = asyncio.run(commit_times())
    assert list(recorded) == [tp]
    assert before <= recorded[tp] <= time.monotonic()


def offsets(*numbers: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(offset=n) for n in numbers]


@pytest.mark.parametrize(
    ("read", "fetched", "gaps"),
    [
        (0, offsets(3, 4), [("t", 1, 2)]),  # an aborted record and its marker after 0
        (None, offsets(0, 3, 4), [("t", 1, 2)]),  # the same, 0 in the same fetch
        (None, offsets(0, 1, 2), []),
        (5, offsets(9), []),  # faust records this one itself
        (None, offsets(4, 5), []),  # nothing read before: faust starts after the gap
        (0, [], []),
    ],
)
def test_the_gap_faust_misses_after_offset_zero_is_found(
    read: int | None, fetched: list[SimpleNamespace], gaps: list[tuple[str, int, int]]
) -> None:
    assert skipped_after_offset_zero({"t": read}, {"t": fetched}) == gaps
