"""What agents are given: the app, its topics and tables, settings and metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from cxpulse.config.settings import Settings
from cxpulse.edge.redact import Redactor
from cxpulse.engine.batches import Batch, run_batches
from cxpulse.engine.transactions import TransactionalApp
from cxpulse.metrics import Metrics
from cxpulse.scoring.config import ScoringConfig
from cxpulse.worker.bundles import Outbox


@dataclass(frozen=True)
class Pipeline:
    """The app and everything agents need, passed explicitly instead of module globals."""

    app: TransactionalApp
    settings: Settings
    #: The scoring model's parameters, built once from the settings (lexicon read).
    scoring: ScoringConfig
    metrics: Metrics
    redactor: Redactor
    input_topic: Any
    events_topic: Any
    summaries_topic: Any
    alerts_topic: Any
    notices_topic: Any
    scores_topic: Any
    insights_topic: Any
    dead_letter_topic: Any
    raw_topics: dict[str, Any]
    customers: Any
    entities: Any

    async def send(
        self,
        topic: Any,
        *,
        origin: Any,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        timestamp: float | None = None,
        headers: dict[str, bytes] | None = None,
    ) -> Awaitable[Any]:
        """Hand a record straight to the app's producer; returns its delivery future.

        ``origin`` is the input message the record comes from: under exactly-once the
        record joins that message's transaction (see ``transactions.py``).  ``Topic.send``
        wraps every record in futures, callbacks and sensor hooks that cost more than
        scoring it; the record still goes through the producer that faust flushes before
        it commits offsets.
        """
        return cast(
            Awaitable[Any],
            await self.app.producer.send(
                topic.get_topic_name(),
                key,
                value,
                partition,
                timestamp,
                headers,
                transactional_id=self.app.transactional_id(origin),
            ),
        )

    def batch_agent(
        self,
        topic: Any,
        handle: Callable[[Pipeline, Batch], Awaitable[None]],
        *,
        name: str,
        label: str,
        within_ms: float | None = None,
    ) -> None:
        """Have each batch of ``topic`` handed to ``handle``; its seconds go to the
        ``label`` of the processing metric.

        On the batch input path (the ``input_path`` setting) a batch is a slice of one
        partition's fetch (``engine/partition_batches.py``); on the stream path, the
        agent ``name`` takes it from faust's stream through the engine's batch loop,
        waiting up to ``within_ms`` (default: the ``batch_within_ms`` setting) to fill it.
        """
        settings = self.settings
        observe = self.metrics.processing.labels(label).observe
        if settings.input_path == "batch":
            self.app.read_in_batches(topic, partial(handle, self), observe)
            return
        within = settings.batch_within_ms if within_ms is None else within_ms

        async def agent(stream: Any) -> None:
            await run_batches(
                stream,
                partial(handle, self),
                size=settings.batch_size,
                within_s=within / 1000,
                gate=self.app.commit_gate,
                observe=observe,
            )

        self.app.agent(topic, name=name)(agent)

    async def send_bundles(self, topic: Any, outbox: Outbox) -> list[Awaitable[Any]]:
        """Send the bundles of ``outbox`` to ``topic``; returns their delivery futures."""
        return [
            await self.send(
                topic,
                origin=bundle.origin,
                key=bundle.key,
                value=bundle.value,
                partition=bundle.partition,
                timestamp=bundle.timestamp,
                headers=bundle.headers,
            )
            for bundle in outbox.drain()
        ]
