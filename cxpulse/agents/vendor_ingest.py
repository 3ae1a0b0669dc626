"""Agents: a platform's raw payloads -> canonical events keyed by customer | dead letters.

One agent per enabled source, each on its own raw topic.  The pure adapter does the
mapping; this module only wires it between topics, and counts the events mapped to a
contact's anonymous customer key (``cxpulse_anonymous_events_total``).
"""

from __future__ import annotations

import time
from typing import Any

from cxpulse.agents.adapters import ADAPTERS, Adapter, AdapterError
from cxpulse.agents.bundles import Outbox
from cxpulse.agents.decode import Rejection, check_size
from cxpulse.agents.ingest import forward_event, send_dead_letter
from cxpulse.agents.pipeline import Pipeline
from cxpulse.agents.scoring.anonymous import is_anonymous
from cxpulse.schemas.events import event_to_json


def _register_source(pipeline: Pipeline, source: str, adapter: Adapter, topic: Any) -> None:
    settings, metrics = pipeline.settings, pipeline.metrics
    stage = f"adapter:{source}"
    within = settings.batch_within_ms / 1000
    gate = pipeline.app.commit_gate

    @pipeline.app.agent(topic, name=f"cxpulse.adapter.{source}")
    async def adapt(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=within):
            started = time.perf_counter()
            async with gate.batch():
                events = Outbox()
                for record in batch:
                    message = record.message
                    oversized = check_size(message.value or b"", settings.max_event_bytes)
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
            metrics.processing.labels(stage).observe(time.perf_counter() - started)


def register(pipeline: Pipeline) -> None:
    for source in pipeline.settings.enabled_adapters():
        _register_source(pipeline, source, ADAPTERS[source], pipeline.raw_topics[source])
