"""The recovery probe finds the last record a read_committed consumer sees, past the
transaction markers at the end of a partition."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer, TopicPartition

from bench.kafka_ops import assigned_consumer, create_topic
from cxpulse.engine.recovery import last_visible_offsets


async def _topic(bootstrap: str) -> str:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, name, partitions=2)
    return name


async def _transaction(bootstrap: str, topic: str, partition: int, n: int, *, commit: bool) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"probe-{uuid.uuid4().hex[:8]}"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        for i in range(n):
            await producer.send_and_wait(topic, f"v{i}".encode(), partition=partition)
        if commit:
            await producer.commit_transaction()
        else:
            await producer.abort_transaction()
    finally:
        await producer.stop()


async def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    async with assigned_consumer(bootstrap, [topic]) as (consumer, partitions):
        return dict(await consumer.end_offsets(partitions))


def test_the_probe_sees_past_markers_and_aborted_records(bootstrap: str) -> None:
    async def scenario() -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        topic = await _topic(bootstrap)
        await _transaction(bootstrap, topic, 0, 5, commit=True)  # offsets 0-4, marker 5
        await _transaction(bootstrap, topic, 1, 3, commit=True)  # offsets 0-2, marker 3
        await _transaction(bootstrap, topic, 1, 4, commit=False)  # 4-7 aborted, marker 8
        ends = await _end_offsets(bootstrap, topic)
        kwargs = {"bootstrap_servers": bootstrap}
        return ends, await last_visible_offsets(kwargs, ends)

    ends, found = asyncio.run(scenario())
    by_partition = {tp.partition: offset for tp, offset in found.items()}
    assert {tp.partition: end for tp, end in ends.items()} == {0: 6, 1: 9}
    assert by_partition == {0: 4, 1: 2}


def test_a_tail_without_visible_records_is_left_out(bootstrap: str) -> None:
    async def scenario() -> dict[TopicPartition, int]:
        topic = await _topic(bootstrap)
        await _transaction(bootstrap, topic, 0, 2, commit=True)  # offsets 0-1, marker 2
        await _transaction(bootstrap, topic, 0, 6, commit=False)  # 3-8 aborted, marker 9
        ends = await _end_offsets(bootstrap, topic)
        return await last_visible_offsets({"bootstrap_servers": bootstrap}, ends, tail=4)

    assert asyncio.run(scenario()) == {}
