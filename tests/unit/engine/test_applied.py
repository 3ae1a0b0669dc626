"""AppliedOffsets: a record the state already includes is skipped, per partition."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from cxpulse.engine.applied import AppliedOffsets, applied_key


class Table:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.puts: list[tuple[bytes, bytes, int]] = []
        self.delivered_calls = 0

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    async def put(self, key: bytes, value: bytes, record: Any) -> None:
        self.data[key] = value
        self.puts.append((key, value, record.message.partition))

    async def delivered(self) -> None:
        self.delivered_calls += 1


class Record:
    def __init__(self, partition: int, offset: int) -> None:
        self.message = SimpleNamespace(partition=partition, offset=offset)


def offsets(records: list[Any]) -> list[tuple[int, int]]:
    return [(r.message.partition, r.message.offset) for r in records]


def apply(table: Table, batch: list[Any]) -> tuple[list[tuple[int, int]], int]:
    applied = AppliedOffsets(table, "scorer")
    fresh, skipped = applied.unapplied(batch)
    asyncio.run(applied.commit())
    return offsets(fresh), skipped


def test_a_fresh_table_applies_every_record_and_records_the_last_offset_per_partition() -> None:
    table = Table()
    batch = [Record(0, 5), Record(1, 2), Record(0, 6), Record(1, 3)]
    assert apply(table, batch) == ([(0, 5), (1, 2), (0, 6), (1, 3)], 0)
    assert table.data == {applied_key(0): b"6", applied_key(1): b"3"}
    # each partition's offset is written on that partition (its changelog, its transaction)
    assert sorted((key, partition) for key, _value, partition in table.puts) == [
        (applied_key(0), 0),
        (applied_key(1), 1),
    ]
    assert table.delivered_calls == 1


@pytest.mark.parametrize(
    ("first", "again", "fresh"),
    [
        ([(0, 0), (0, 1), (0, 2)], [(0, 0), (0, 1), (0, 2)], []),  # a whole batch re-read
        ([(0, 0), (0, 1)], [(0, 1), (0, 2), (0, 3)], [(0, 2), (0, 3)]),  # overlapping
        ([(0, 7)], [(1, 0), (0, 8)], [(1, 0), (0, 8)]),  # another partition is its own
        ([(0, 4)], [(0, 2), (0, 5)], [(0, 5)]),  # a restart from an older committed offset
    ],
)
def test_records_at_or_below_the_applied_offset_are_skipped(
    first: list[tuple[int, int]], again: list[tuple[int, int]], fresh: list[tuple[int, int]]
) -> None:
    table = Table()
    apply(table, [Record(p, o) for p, o in first])
    assert apply(table, [Record(p, o) for p, o in again]) == (fresh, len(again) - len(fresh))


def test_a_batch_wholly_applied_writes_nothing() -> None:
    table = Table()
    apply(table, [Record(0, 3)])
    table.puts.clear()
    assert apply(table, [Record(0, 2), Record(0, 3)]) == ([], 2)
    assert table.puts == []
