"""Agents: a platform's raw payloads -> canonical events keyed by customer | dead letters.

One agent per enabled source, each on its own raw topic.  The pure adapter does the
mapping; this module only wires it between topics, and counts the events mapped to a
contact's anonymous customer key (``cxpulse_anonymous_events_total``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cxpulse.adapters import ADAPTERS, Adapter, AdapterError
from cxpulse.agents.ingest import forward_event, send_dead_letter
from cxpulse.edge.decode import Rejection, check_size
from cxpulse.engine.batches import Batch
from cxpulse.schemas.events import event_to_json
from cxpulse.scoring.anonymous import is_anonymous
from cxpulse.worker.bundles import Outbox
from cxpulse.worker.pipeline import Pipeline


def adapt_batch(source: str, adapter: Adapter) -> Callable[[Pipeline, Batch], Awaitable[None]]:
    """The batch function of ``source``'s agent: payloads mapped and forwarded as ingest
    forwards events, the rest dead-lettered."""
    stage = f"adapter:{source}"

    async def handle(pipeline: Pipeline, batch: Batch) -> None:
        max_bytes, metrics = pipeline.settings.max_event_bytes, pipeline.metrics
        events = Outbox()
        for record in batch:
            message = record.message
            oversized = check_size(message.value or b"", max_bytes)
            if oversized is not None:
                await send_dead_letter(pipeline, message, oversized, stage)
                continue
            try:
                adapted = adapter(message.value)
            except AdapterError as exc:
                rejection = Rejection(exc.reason, f"{source}: {exc.message}")
                await send_dead_letter(pipeline, message, rejection, stage)
                continue
            for event in adapted:
                if is_anonymous(event.customer_id):
                    metrics.anonymous_events.labels(source, event.type).inc()
                forward_event(
                    pipeline,
                    events,
                    event,
                    value=event_to_json(event),
                    origin=message,
                    source=source,
                )
        await pipeline.send_bundles(pipeline.events_topic, events)

    return handle


def register(pipeline: Pipeline) -> None:
    for source in pipeline.settings.enabled_adapters():
        pipeline.batch_agent(
            pipeline.raw_topics[source],
            adapt_batch(source, ADAPTERS[source]),
            name=f"cxpulse.adapter.{source}",
            label=f"adapter:{source}",
        )
