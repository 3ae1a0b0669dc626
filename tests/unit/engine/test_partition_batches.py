"""The batch input path's bookkeeping: slices, the offset to commit, the slice in flight."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, NamedTuple

import pytest

from cxpulse.engine.partition_batches import Delivered, PartitionBatches
from cxpulse.engine.transactions import CommitGate


class TP(NamedTuple):
    topic: str
    partition: int


class Record(NamedTuple):
    """The fields of an aiokafka ConsumerRecord that the path reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None
    headers: Any


def records(tp: TP, offsets: range) -> list[Record]:
    return [
        Record(tp.topic, tp.partition, o, 1_700_000_000_000 + o, b"k", b"v", ()) for o in offsets
    ]


def batches_with(
    handled: list[list[int]], size: int = 3, fail_at: int | None = None
) -> PartitionBatches:
    batches = PartitionBatches(CommitGate(), size)

    async def handle(part: list[Delivered]) -> None:
        offsets = [record.offset for record in part]
        if fail_at is not None and fail_at in offsets:
            raise RuntimeError("scoring failed")
        handled.append(offsets)

    batches.register("input", handle, lambda seconds: None)
    return batches


def test_a_delivered_record_is_its_own_message_with_seconds() -> None:
    record = Delivered.of(records(TP("input", 2), range(5, 6))[0])
    assert record.message is record
    assert (record.topic, record.partition, record.offset) == ("input", 2, 5)
    assert record.timestamp == pytest.approx(1_700_000_000.005)
    assert weakref.ref(record)() is record  # faust's current event is a weak reference


def test_take_removes_only_registered_topics() -> None:
    batches = batches_with([])
    fetched: dict[Any, Any] = {TP("input", 0): ["a"], TP("other", 0): ["b"]}
    assert batches.take(fetched) == [(TP("input", 0), ["a"])]
    assert fetched == {TP("other", 0): ["b"]}


def test_slices_are_handed_on_in_order_and_the_offset_is_one_past_the_last() -> None:
    handled: list[list[int]] = []
    batches = batches_with(handled)
    tp = TP("input", 1)
    assert batches.next_offset(tp) is None
    last = asyncio.run(batches.hand_on(tp, records(tp, range(10, 17)), still_valid=lambda: True))
    assert handled == [[10, 11, 12], [13, 14, 15], [16]]
    assert last == 16
    assert batches.next_offset(tp) == 17
    assert list(batches.pending()) == [tp]
    batches.forget([tp])
    assert batches.next_offset(tp) is None


def test_nothing_more_is_handed_on_once_no_longer_valid() -> None:
    handled: list[list[int]] = []
    batches = batches_with(handled)
    tp = TP("input", 0)
    answers = iter([True, False])
    last = asyncio.run(
        batches.hand_on(tp, records(tp, range(9)), still_valid=lambda: next(answers))
    )
    assert handled == [[0, 1, 2]]
    assert (last, batches.next_offset(tp)) == (2, 3)


def test_a_failed_slice_records_no_offset_and_marks_the_gate() -> None:
    gate = CommitGate()
    batches = batches_with([], fail_at=4)
    batches._gate = gate  # the gate the failure must be reported to
    tp = TP("input", 0)
    with pytest.raises(RuntimeError, match="scoring failed"):
        asyncio.run(batches.hand_on(tp, records(tp, range(9)), still_valid=lambda: True))
    assert batches.next_offset(tp) == 3
    assert gate.interrupted


def test_a_slice_outlives_its_cancelled_caller_and_the_stop_waits_for_it() -> None:
    """faust cancels the fetch loop at stop; the slice must end and record its offset
    before the final commit, or its outputs would commit without their offsets."""
    release = asyncio.Event()
    handled: list[int] = []
    batches = PartitionBatches(CommitGate(), 100)

    async def handle(part: list[Delivered]) -> None:
        await release.wait()
        handled.extend(record.offset for record in part)

    batches.register("input", handle, lambda seconds: None)
    tp = TP("input", 0)

    async def scenario() -> int | None:
        loop = asyncio.create_task(
            batches.hand_on(tp, records(tp, range(4)), still_valid=lambda: True)
        )
        await asyncio.sleep(0.01)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
        assert batches.next_offset(tp) is None
        release.set()
        await batches.wait_idle()
        return batches.next_offset(tp)

    assert asyncio.run(scenario()) == 4
    assert handled == [0, 1, 2, 3]


def test_a_topic_takes_one_handler() -> None:
    batches = batches_with([])
    with pytest.raises(ValueError, match="already has a batch handler"):
        batches.register("input", lambda part: asyncio.sleep(0), lambda seconds: None)
