"""The Kafka operations the benchmark needs: create and preload topics, read offsets,
timestamps and records back, and delete a run's topics afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cxpulse.config.topics import NO_SIZE_LIMIT
from cxpulse.engine.committed_reads import last_record_before

Record = tuple[bytes, bytes]
Offsets = dict[TopicPartition, int]
SEND_CHUNK = 5_000
READ_TIMEOUT_S = 60.0


@asynccontextmanager
async def admin_client(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def producer_client(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """The same producer settings as ``cxpulse simulate``: idempotent, all replicas."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    """A topic without a size limit: a preloaded input is read for minutes, and 1,000,000
    customers put about 300 MiB in each of 4 partitions, near the development broker's
    256 MiB plus one segment."""
    async with admin_client(bootstrap) as admin:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=NO_SIZE_LIMIT)])
        deadline = time.monotonic() + 30
        while name not in await admin.list_topics():
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name} did not appear")
            await asyncio.sleep(0.1)


async def send_all(producer: AIOKafkaProducer, topic: str, records: Sequence[Record]) -> None:
    """Send and wait for acknowledgement of every record, ``SEND_CHUNK`` at a time."""
    for start in range(0, len(records), SEND_CHUNK):
        pending = [
            await producer.send(topic, value, key=key)
            for key, value in records[start : start + SEND_CHUNK]
        ]
        await asyncio.gather(*pending)


async def preload(bootstrap: str, topic: str, records: Sequence[Record], partitions: int) -> float:
    """Create ``topic`` and fill it; returns the seconds the produce took."""
    await create_topic(bootstrap, topic, partitions)
    return await fill(bootstrap, topic, records)


async def fill(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    """Produce ``records`` to ``topic``; returns the seconds it took."""
    started = time.perf_counter()
    async with producer_client(bootstrap) as producer:
        await send_all(producer, topic, records)
    return time.perf_counter() - started


@asynccontextmanager
async def assigned_consumer(
    bootstrap: str, topics: Sequence[str]
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """A group-less read_committed consumer assigned every partition of ``topics``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        consumer.assign(partitions)
        yield consumer, partitions
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    deadline = time.monotonic() + 30
    while not (found := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no metadata for topic {topic}")
        await consumer._client.force_metadata_update()  # no public refresh
        await asyncio.sleep(0.1)
    return set(found)


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> Offsets:
    """One past the last committed record of each partition: what a consumer that has read
    everything commits.  Not the end offset itself, which counts the transaction markers
    an exactly-once writer leaves after its records."""
    async with assigned_consumer(bootstrap, topics) as (consumer, partitions):
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        offsets: Offsets = {}
        for tp in partitions:
            last = await _last_record(consumer, tp, starts[tp], ends[tp])
            offsets[tp] = starts[tp] if last is None else last.offset + 1
        return offsets


async def _last_record(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
) -> ConsumerRecord | None:
    """The last committed record before ``end``, read back in growing windows."""
    window = 16
    while end > start:
        seek_to = max(start, end - window)
        last = await last_record_before(consumer, tp, seek_to, end)
        if last is not None or seek_to == start:
            return last
        window *= 4
    return None


async def committed(bootstrap: str, group: str) -> Offsets:
    async with admin_client(bootstrap) as admin:
        offsets = await admin.list_consumer_group_offsets(group)
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def read_all(bootstrap: str, topics: Sequence[str]) -> list[ConsumerRecord]:
    """Every record of ``topics`` up to their end offsets at the time of the call."""
    records: list[ConsumerRecord] = []
    async with assigned_consumer(bootstrap, topics) as (consumer, partitions):
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        deadline = time.monotonic() + READ_TIMEOUT_S
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for got in batch.values():
                records.extend(got)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    return records


async def edge_timestamps(bootstrap: str, topics: Sequence[str]) -> tuple[int, int] | None:
    """The smallest first and largest last record timestamp (ms) over ``topics``' partitions."""
    firsts: list[int] = []
    lasts: list[int] = []
    async with assigned_consumer(bootstrap, topics) as (consumer, partitions):
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            last = await _last_record(consumer, tp, starts[tp], ends[tp])
            if last is None:
                continue
            consumer.seek(tp, starts[tp])
            firsts.append((await consumer.getone(tp)).timestamp)
            lasts.append(last.timestamp)
    return (min(firsts), max(lasts)) if firsts else None


async def delete_prefixed(bootstrap: str, prefix: str) -> int:
    async with admin_client(bootstrap) as admin:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    return len(names)
