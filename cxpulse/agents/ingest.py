"""Agent: raw bytes from the input topic -> validated events keyed by customer | dead letters.

The original bytes are forwarded unchanged (they validated) to the partition Kafka's
default partitioner gives their ``customer_id``, so that every event of a customer
reaches the same scorer partition in the order received; a batch sends one bundle per
partition (``bundles.py``).  Duplicates are dropped by the scorer, where the per-customer
state lives.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cxpulse.edge.decode import MessageOrigin, Rejection, dead_letter, decode_event
from cxpulse.engine.batches import Batch
from cxpulse.schemas.events import Event
from cxpulse.worker.bundles import Outbox, forwarded_event
from cxpulse.worker.lanes import lane_for
from cxpulse.worker.pipeline import Pipeline

STAGE = "ingest"


def origin_of(message: Any) -> MessageOrigin:
    return MessageOrigin(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
    )


async def send_dead_letter(
    pipeline: Pipeline, message: Any, rejection: Rejection, stage: str
) -> None:
    letter = dead_letter(
        message.value, rejection, origin_of(message), stage, rejected_at=datetime.now(UTC)
    )
    await pipeline.send(
        pipeline.dead_letter_topic, origin=message, key=message.key, value=letter.to_json()
    )
    pipeline.metrics.dead_letters.labels(stage, rejection.reason).inc()


def forward_event(
    pipeline: Pipeline, events: Outbox, event: Event, *, value: bytes, origin: Any, source: str
) -> None:
    """Add a valid event, read from input message ``origin``, to the batch's bundle for
    its customer's partition of the events topic, and count it.

    ``value`` is the event's JSON.  The input record's Kafka timestamp goes along for
    end-to-end latency; ``source`` stands in when the event names none.
    """
    events.add(
        forwarded_event(value, origin.timestamp),
        origin=origin,
        partition=lane_for(event.customer_id, pipeline.settings.partitions),
    )
    pipeline.metrics.events.labels(event.type, event.source or source, event.channel or "").inc()


async def ingest_batch(pipeline: Pipeline, batch: Batch) -> None:
    """Validate a batch of the input topic: valid events forwarded, the rest dead-lettered."""
    max_bytes = pipeline.settings.max_event_bytes
    events = Outbox()
    for record in batch:
        message = record.message
        result = decode_event(message.value, max_bytes)
        if isinstance(result, Rejection):
            await send_dead_letter(pipeline, message, result, STAGE)
            continue
        forward_event(pipeline, events, result, value=message.value, origin=message, source="")
    await pipeline.send_bundles(pipeline.events_topic, events)


def register(pipeline: Pipeline) -> None:
    pipeline.batch_agent(pipeline.input_topic, ingest_batch, name="cxpulse.ingest", label=STAGE)
