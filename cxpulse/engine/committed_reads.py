"""The end of a partition as a read_committed consumer sees it.

Transaction markers and aborted records take offsets but are never returned, so the last
record before a partition's end offset can lie well before ``end - 1``, or a stretch of
offsets hold none at all.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def last_record_before(
    consumer: AIOKafkaConsumer, tp: TopicPartition, seek_to: int, end: int
) -> ConsumerRecord | None:
    """The last record ``consumer`` returns from offsets ``seek_to`` up to ``end``, or
    None where those offsets hold only markers and aborted records."""
    consumer.seek(tp, seek_to)
    last = None
    while await consumer.position(tp) < end:
        batch = await consumer.getmany(tp, timeout_ms=500)
        for record in batch.get(tp, []):
            if record.offset < end:
                last = record
    return last
