"""Agent: raw bytes from the input topic -> validated events keyed by customer | dead letters.

The original bytes are forwarded unchanged (they validated), keyed by ``customer_id`` so
that every event of a customer reaches the same scorer partition in the order received.
Duplicates are dropped by the scorer, where the per-customer state lives.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from cxpulse.agents.decode import MessageOrigin, Rejection, dead_letter, decode_event
from cxpulse.agents.pipeline import Pipeline
from cxpulse.schemas.events import Event

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


async def forward_event(
    pipeline: Pipeline, event: Event, value: bytes, origin: Any, source: str
) -> None:
    """Send a valid event, read from input message ``origin``, to the customer-keyed
    events topic and count it.

    The input record's Kafka timestamp is kept for end-to-end latency; ``source`` stands in
    when the event names none.
    """
    await pipeline.send(
        pipeline.events_topic,
        origin=origin,
        key=event.customer_id.encode(),
        value=value,
        timestamp=origin.timestamp,
    )
    pipeline.metrics.events.labels(event.type, event.source or source, event.channel or "").inc()


def register(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    metrics = pipeline.metrics
    within = settings.batch_within_ms / 1000
    gate = pipeline.app.commit_gate

    @pipeline.app.agent(pipeline.input_topic, name="cxpulse.ingest")
    async def ingest(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=within):
            started = time.perf_counter()
            async with gate.batch():
                for record in batch:
                    message = record.message
                    result = decode_event(message.value, settings.max_event_bytes)
                    if isinstance(result, Rejection):
                        await send_dead_letter(pipeline, message, result, STAGE)
                        continue
                    await forward_event(pipeline, result, message.value, message, "")
            metrics.processing.labels("ingest").observe(time.perf_counter() - started)
