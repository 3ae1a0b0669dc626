"""Agents that load state, call the pure scoring code, save state and send its outputs.

Within a batch, state is read from the table once per key and written back once per key,
so a busy customer costs one table write per batch, not one per event.  The internal
topics carry bundles (``bundles.py``): one record may hold many events or summaries, so
the customer scorer cuts a batch of bundles into chunks of about ``batch_size`` customers,
each read, scored, saved and sent before the next is read.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from faust.streams import _current_event as CURRENT_EVENT
from pydantic import ValidationError

from cxpulse.agents.bundles import Outbox, ReadRecord, forwarded_in_chunks
from cxpulse.agents.decode import Rejection
from cxpulse.agents.ingest import send_dead_letter
from cxpulse.agents.pipeline import Pipeline
from cxpulse.agents.publish import lane_of, publish
from cxpulse.agents.routes import route_key, routes_in
from cxpulse.agents.scoring.customer import CustomerState, score_customer_event
from cxpulse.agents.scoring.entity import EntityState, score_entity_summary
from cxpulse.agents.scoring.summary import InteractionSummary

State = TypeVar("State", CustomerState, EntityState)


@contextmanager
def acting_for(record: Any) -> Iterator[None]:
    """Make ``record`` faust's current event while a table is read or written.

    faust files table reads and writes under the partition of the *current* event (a
    context variable), which inside ``take_events`` is whatever the stream read last.
    Pointing it at the record being handled keeps every key's state (store and changelog)
    on that key's partition.  Only this task's context changes: the stream's background
    reader runs in its own task and keeps its own current event.
    """
    token = CURRENT_EVENT.set(weakref.ref(record))
    try:
        yield
    finally:
        CURRENT_EVENT.reset(token)


class BatchState(Generic[State]):
    """One batch's view of a state table: each key read once, written back once.

    ``commit`` first awaits the batch's output deliveries, then saves the states that
    record them, so a crash never loses an output.  Under exactly-once both are in the
    input's transaction, so a crash does not repeat one either.
    """

    def __init__(self, table: Any, decode: Callable[[bytes], State]) -> None:
        self._table = table
        self._decode: Callable[[bytes], State] = decode
        self._states: dict[bytes, tuple[State, Any]] = {}

    def get(self, key: bytes, record: Any) -> State | None:
        if key in self._states:
            return self._states[key][0]
        with acting_for(record):
            raw = self._table.get(key)
        return None if raw is None else self._decode(raw)

    def put(self, key: bytes, state: State, record: Any) -> None:
        self._states[key] = (state, record)

    async def commit(self, deliveries: list[Awaitable[Any]]) -> None:
        await asyncio.gather(*deliveries)
        for key, (state, record) in self._states.items():
            with acting_for(record):
                await self._table.put(key, state.to_bytes(), record)
        await self._table.delivered()


def register(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    metrics = pipeline.metrics
    config = settings.scoring_config()
    within = settings.batch_within_ms / 1000
    entity_within = settings.entity_batch_within_ms / 1000
    gate = pipeline.app.commit_gate

    async def score_chunk(chunk: list[ReadRecord]) -> None:
        states = BatchState(pipeline.customers, CustomerState.from_bytes)
        summaries = Outbox()
        deliveries: list[Awaitable[Any]] = []
        for record, forwarded in chunk:
            message = record.message
            if isinstance(forwarded, ValidationError):
                # Ingest validated it; only a schema change in between lands here.
                reason = f"scorer could not read event: {forwarded}"
                await send_dead_letter(
                    pipeline, message, Rejection("invalid_event", reason), "scorer"
                )
                continue
            for item in forwarded:
                event = item.event
                key = event.customer_id.encode()
                state, emitted = score_customer_event(states.get(key, record), event, config)
                deliveries += await publish(
                    pipeline,
                    emitted,
                    message,
                    received_at=item.received_at,
                    summaries=summaries,
                    lane=message.partition,
                )
                states.put(key, state, record)
                metrics.event_time_lag.set(time.time() - event.occurred_at.timestamp())
        deliveries += await pipeline.send_bundles(pipeline.summaries_topic, summaries)
        await states.commit(deliveries)

    @pipeline.app.agent(pipeline.events_topic, name="cxpulse.scorer")
    async def score_customers(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=within):
            started = time.perf_counter()
            async with gate.batch():
                for chunk in forwarded_in_chunks(batch, settings.batch_size):
                    await score_chunk(chunk)
            metrics.processing.labels("scorer").observe(time.perf_counter() - started)

    @pipeline.app.agent(pipeline.summaries_topic, name="cxpulse.entity_scorer")
    async def score_entities(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=entity_within):
            started = time.perf_counter()
            states = BatchState(pipeline.entities, EntityState.from_bytes)
            unused = Outbox()  # entity scoring emits no summaries
            deliveries: list[Awaitable[Any]] = []
            async with gate.batch():
                for record in batch:
                    message = record.message
                    lane = lane_of(message.headers)
                    for summary in InteractionSummary.many_from_bytes(message.value):
                        routes = routes_in(
                            summary, message.key, message.partition, settings.partitions
                        )
                        for entity_type, entity_id in routes:
                            key = route_key(entity_type, entity_id)
                            state, emitted = score_entity_summary(
                                states.get(key, record),
                                entity_type,
                                entity_id,
                                summary,
                                config,
                                lane=lane,
                            )
                            deliveries += await publish(
                                pipeline,
                                emitted,
                                message,
                                received_at=message.timestamp,
                                summaries=unused,
                            )
                            states.put(key, state, record)
                await states.commit(deliveries)
            metrics.processing.labels("entity_scorer").observe(time.perf_counter() - started)
