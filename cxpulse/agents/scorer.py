"""Agents that load state, call the pure scoring code, save state and send its outputs.

Within a batch, state is read from the table once per key and written back once per key,
so a busy customer costs one table write per batch, not one per event.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from faust.streams import _current_event as CURRENT_EVENT
from pydantic import ValidationError

from cxpulse.agents.decode import Rejection
from cxpulse.agents.ingest import send_dead_letter
from cxpulse.agents.pipeline import Pipeline
from cxpulse.agents.publish import lane_of, publish
from cxpulse.agents.routes import parse_route_key
from cxpulse.agents.scoring.customer import CustomerState, score_customer_event
from cxpulse.agents.scoring.entity import EntityState, score_entity_summary
from cxpulse.agents.scoring.summary import InteractionSummary
from cxpulse.schemas.events import parse_event

State = TypeVar("State")


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


def _loader(table: Any, decode: Callable[[bytes], State]) -> Callable[[bytes, Any], State | None]:
    def load(key: bytes, record: Any) -> State | None:
        with acting_for(record):
            raw = table.get(key)
        return None if raw is None else decode(raw)

    return load


def save(table: Any, states: dict[bytes, tuple[Any, Any]]) -> None:
    """Write each key's final state of the batch once, under its own partition."""
    for key, (state, record) in states.items():
        with acting_for(record):
            table[key] = state.to_bytes()


def register(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    metrics = pipeline.metrics
    config = settings.scoring_config()
    within = settings.batch_within_ms / 1000
    customers, entities = pipeline.customers, pipeline.entities
    load_customer = _loader(customers, CustomerState.from_bytes)
    load_entity = _loader(entities, EntityState.from_bytes)

    @pipeline.app.agent(pipeline.events_topic, name="cxpulse.scorer")
    async def score_customers(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=within):
            started = time.perf_counter()
            states: dict[bytes, tuple[CustomerState, Any]] = {}
            pending: list[Awaitable[Any]] = []
            for record in batch:
                message = record.message
                try:
                    event = parse_event(message.value)
                except ValidationError as exc:
                    # Ingest validated it; only a schema change between the two can land here.
                    rejection = Rejection("invalid_event", f"scorer could not read event: {exc}")
                    await send_dead_letter(pipeline, message, rejection, "scorer")
                    continue
                key = message.key
                state = states[key][0] if key in states else load_customer(key, record)
                new_state, emitted = score_customer_event(state, event, config)
                states[key] = (new_state, record)
                pending += await publish(
                    pipeline, emitted, message.timestamp, lane=message.partition
                )
                metrics.event_time_lag.set(time.time() - event.occurred_at.timestamp())
            await asyncio.gather(*pending)  # outputs delivered before state records them
            save(customers, states)
            metrics.processing.labels("scorer").observe(time.perf_counter() - started)

    @pipeline.app.agent(pipeline.summaries_topic, name="cxpulse.entity_scorer")
    async def score_entities(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=within):
            started = time.perf_counter()
            states: dict[bytes, tuple[EntityState, Any]] = {}
            pending: list[Awaitable[Any]] = []
            for record in batch:
                message = record.message
                key = message.key
                entity_type, entity_id = parse_route_key(key)
                summary = InteractionSummary.from_bytes(message.value)
                state = states[key][0] if key in states else load_entity(key, record)
                new_state, emitted = score_entity_summary(
                    state, entity_type, entity_id, summary, config, lane=lane_of(message.headers)
                )
                states[key] = (new_state, record)
                pending += await publish(pipeline, emitted, message.timestamp)
            await asyncio.gather(*pending)
            save(entities, states)
            metrics.processing.labels("entity_scorer").observe(time.perf_counter() - started)
