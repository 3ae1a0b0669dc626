"""Agents that load state, call the pure scoring code, save state and send its outputs.

Within a batch, state is read from the table once per key and written back once per key,
so a busy customer costs one table write per batch, not one per event.  The internal
topics carry bundles (``bundles.py``): one record may hold many events or summaries, so
the customer scorer cuts a batch of bundles into chunks of about ``batch_size`` customers,
each read, scored, saved and sent before the next is read.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import ValidationError

from cxpulse.agents.ingest import send_dead_letter
from cxpulse.agents.publish import lane_header, lane_of, publish
from cxpulse.edge.decode import Rejection
from cxpulse.engine.applied import AppliedOffsets
from cxpulse.engine.batches import Batch
from cxpulse.engine.state import StateBatch
from cxpulse.metrics import CUSTOMER_SCORER, ENTITY_SCORER
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.customer import CustomerState, score_customer_event
from cxpulse.scoring.entity import EntityState
from cxpulse.scoring.partition import score_partition_record
from cxpulse.scoring.summary import InteractionSummary
from cxpulse.scoring.windows import PartitionClock, window_start
from cxpulse.worker.bundles import Outbox, ReadRecord, forwarded_in_chunks
from cxpulse.worker.pipeline import Pipeline
from cxpulse.worker.routes import routes_in

#: The entity table's key of a summaries partition's clock (no entity key starts so).
CLOCK_KEY = b"~clock"


@dataclass
class LaneMark:
    """The last window boundary a lane told every summaries partition it had passed."""

    told_us: int = -1

    def to_bytes(self) -> bytes:
        return str(self.told_us).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> LaneMark:
        return cls(int(raw))


#: The customer table's key of a lane's mark (no customer id has a control character).
LANE_MARK_KEY = b"\x00lane"


class LaneProgress:
    """What a chunk tells the entity side of each lane's (events partition's) progress.

    Every summaries record a lane sends carries the lane's high.  A partition that gets no
    summaries from a chunk still needs to learn how far the lane has come, but only when
    that moves a window boundary: it then gets an empty record with the headers.  The
    boundary last told is kept in the customer table (``LaneMark``), in the transaction of
    the records that told it: an aborted chunk forgets both, and its retry tells again.
    """

    def __init__(self, config: ScoringConfig, partitions: int, marks: StateBatch[LaneMark]):
        self._config = config
        self._partitions = range(partitions)
        self._marks = marks
        self._highs: dict[int, tuple[Any, int]] = {}

    def saw(self, record: Any, summaries: Any) -> None:
        """Note the summaries scoring ``record`` (an events-topic event) made."""
        lane = record.message.partition
        for summary in summaries:
            known = self._highs.get(lane)
            if known is None or summary.occurred_at_us > known[1]:
                self._highs[lane] = (record, summary.occurred_at_us)

    def stamp(self, outbox: Outbox) -> None:
        """Stamp the chunk's summaries bundles with their lane's high; tell the partitions
        without one when a lane moved past a window boundary."""
        config = self._config
        for lane, (record, high) in self._highs.items():
            boundary = window_start(high - config.allowed_lateness_us, config)
            key = b"%s:%d" % (LANE_MARK_KEY, lane)
            mark = self._marks.get(key, record) or LaneMark()
            moved = boundary > mark.told_us
            if moved:
                mark.told_us = boundary
                self._marks.put(key, mark, record)
            told = self._partitions if moved else ()
            outbox.stamp(record.message, partial(lane_header, lane), high, told)


async def score_summaries(
    pipeline: Pipeline,
    record: Any,
    states: StateBatch[EntityState],
    clocks: StateBatch[PartitionClock],
) -> list[Awaitable[Any]]:
    """Score one summaries record on its partition (``scoring/partition.py``): load what
    it needs, save what it changed, send what it emitted; returns the deliveries."""
    settings = pipeline.settings
    message = record.message
    lane, high = lane_of(message.headers)
    summaries = InteractionSummary.many_from_bytes(message.value)
    if high is None:  # a record of an older version: its own summaries
        high = max((s.occurred_at_us for s in summaries), default=0)
    routed = [
        (s, routes_in(s, message.key, message.partition, settings.partitions)) for s in summaries
    ]
    clock_key = b"%s:%d" % (CLOCK_KEY, message.partition)
    clock = clocks.get(clock_key, record) or PartitionClock()

    def load(key: str) -> EntityState | None:
        return states.get(key.encode(), record)

    step = score_partition_record(
        clock, load, routed, pipeline.scoring, lane=lane, lane_high_us=high
    )
    deliveries: list[Awaitable[Any]] = []
    unused = Outbox()  # entity scoring emits no summaries
    for emitted in step.emitted:
        deliveries += await publish(
            pipeline, emitted, message, received_at=message.timestamp, summaries=unused
        )
    for key, state in step.states.items():
        states.put(key.encode(), state, record)
    clocks.put(clock_key, clock, record)
    return deliveries


async def score_chunk(pipeline: Pipeline, chunk: list[ReadRecord]) -> None:
    """Score a chunk of events-topic records: their customers' states read once and
    written once, their outputs sent, their summaries bundled per summaries partition."""
    settings, metrics, config = pipeline.settings, pipeline.metrics, pipeline.scoring
    states = StateBatch(pipeline.customers, CustomerState.from_bytes)
    marks = StateBatch(pipeline.customers, LaneMark.from_bytes)
    progress = LaneProgress(config, settings.partitions, marks)
    summaries = Outbox()
    deliveries: list[Awaitable[Any]] = []
    for record, forwarded in chunk:
        message = record.message
        if isinstance(forwarded, ValidationError):
            # Ingest validated it; only a schema change in between lands here.
            reason = f"scorer could not read event: {forwarded}"
            await send_dead_letter(pipeline, message, Rejection("invalid_event", reason), "scorer")
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
            progress.saw(record, emitted.summaries)
            metrics.event_time_lag.set(time.time() - event.occurred_at.timestamp())
    progress.stamp(summaries)
    deliveries += await pipeline.send_bundles(pipeline.summaries_topic, summaries)
    await states.commit(deliveries)
    await marks.commit([])


async def score_customer_batch(pipeline: Pipeline, batch: Batch) -> None:
    """A batch of the events topic, chunk by chunk (``bundles.forwarded_in_chunks``),
    without the records the customer table already includes (``engine/applied.py``)."""
    applied, batch = _unapplied(pipeline, pipeline.customers, CUSTOMER_SCORER, batch)
    for chunk in forwarded_in_chunks(batch, pipeline.settings.batch_size):
        await score_chunk(pipeline, chunk)
    await applied.commit()


async def score_entity_batch(pipeline: Pipeline, batch: Batch) -> None:
    """A batch of the summaries topic: each record scored on its partition, but for
    those the entity table already includes (``engine/applied.py``)."""
    applied, batch = _unapplied(pipeline, pipeline.entities, ENTITY_SCORER, batch)
    states = StateBatch(pipeline.entities, EntityState.from_bytes)
    clocks = StateBatch(pipeline.entities, PartitionClock.from_bytes)
    deliveries: list[Awaitable[Any]] = []
    for record in batch:
        deliveries += await score_summaries(pipeline, record, states, clocks)
    await states.commit(deliveries)
    await clocks.commit([])
    await applied.commit()


def register(pipeline: Pipeline) -> None:
    pipeline.batch_agent(
        pipeline.events_topic, score_customer_batch, name="cxpulse.scorer", label=CUSTOMER_SCORER
    )
    pipeline.batch_agent(
        pipeline.summaries_topic,
        score_entity_batch,
        name="cxpulse.entity_scorer",
        label=ENTITY_SCORER,
        within_ms=pipeline.settings.entity_batch_within_ms,
    )


def _unapplied(
    pipeline: Pipeline, table: Any, agent: str, batch: Batch
) -> tuple[AppliedOffsets, Batch]:
    """The records of ``batch`` that ``table``'s states do not include yet, counted."""
    applied = AppliedOffsets(table, agent)
    batch, skipped = applied.unapplied(batch)
    pipeline.metrics.already_applied.labels(agent).inc(skipped)
    return applied, batch
