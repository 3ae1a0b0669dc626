"""Send what the scoring code emitted to the output topics, and count it.

End-to-end latency is measured from ``received_at``: the Kafka timestamp the producer gave
the input record, carried along on the internal topics.  Event time (``occurred_at``) is
not used for it: a replayed backlog or a time-lapse simulation has event times far from
the wall clock, and the pipeline's own delay is what operators need to see.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from cxpulse.schemas.outputs import Severity
from cxpulse.scoring.emitted import Emitted
from cxpulse.scoring.intelligence import CHURN_ENTITY, redacted
from cxpulse.scoring.summary import MENTION
from cxpulse.worker.bundles import Outbox
from cxpulse.worker.pipeline import Pipeline
from cxpulse.worker.routes import summary_partitions

LANE_HEADER = "cxpulse-lane"
LANE_HIGH_HEADER = "cxpulse-lane-high"


def lane_header(lane: int, high_us: int | None = None) -> dict[str, bytes]:
    """Summaries carry the customer partition (lane) they came from and the latest summary
    time that lane has made: each partition of the entity side keeps a watermark per lane,
    so its windows close only when every lane has moved past them (scoring/windows.py)."""
    headers = {LANE_HEADER: str(lane).encode()}
    if high_us is not None:
        headers[LANE_HIGH_HEADER] = str(high_us).encode()
    return headers


def lane_of(headers: Any) -> tuple[int, int | None]:
    """The lane of a summaries record and its high (None: a record of an older version)."""
    items = headers.items() if isinstance(headers, dict) else (headers or ())
    lane, high = 0, None
    for name, value in items:
        if name == LANE_HEADER:
            lane = int(value)
        elif name == LANE_HIGH_HEADER:
            high = int(value)
    return lane, high


async def publish(
    pipeline: Pipeline,
    emitted: Emitted,
    origin: Any,
    *,
    received_at: float | None,
    summaries: Outbox,
    lane: int = 0,
) -> list[Awaitable[Any]]:
    """Send the outputs of scoring input message ``origin``; returns their delivery futures.

    Summaries go to the batch's outbox ``summaries``, one bundle per partition of the
    summaries topic (``routes.py``), sent at the end of the batch.  The caller awaits all
    deliveries before it saves the state that records this step: a crash can then never
    lose an output, and under exactly-once (outputs and state in the transaction of
    ``origin``) never repeat one either.
    ``received_at`` is the Kafka timestamp of the input record behind ``origin``.
    """
    metrics = pipeline.metrics
    deliveries: list[Awaitable[Any]] = []
    if emitted.duplicate:
        metrics.duplicates.inc()
        return deliveries
    latency = max(0.0, time.time() - received_at) if received_at else None
    _count(pipeline, emitted)
    for raw_alert in emitted.alerts:
        alert = pipeline.redactor.alert(raw_alert)
        notice = alert.severity is Severity.INFO
        deliveries.append(
            await pipeline.send(
                pipeline.notices_topic if notice else pipeline.alerts_topic,
                origin=origin,
                key=alert.entity_id.encode(),
                value=alert.to_json(),
            )
        )
        metrics.alerts.labels(alert.kind, alert.severity.value).inc()
        if latency is not None:
            metrics.end_to_end_latency.labels("alert").observe(latency)
    redactor = pipeline.redactor
    for raw_insight in emitted.insights:
        insight = redacted(raw_insight, redactor.text, redactor.customer_id)
        deliveries.append(
            await pipeline.send(
                pipeline.insights_topic,
                origin=origin,
                key=insight.customer_id.encode(),
                value=insight.to_json(),
            )
        )
        metrics.insights.labels(insight.kind).inc()
    if pipeline.settings.emit_snapshots:
        for raw_snapshot in emitted.snapshots:
            snapshot = pipeline.redactor.snapshot(raw_snapshot)
            deliveries.append(
                await pipeline.send(
                    pipeline.scores_topic,
                    origin=origin,
                    key=snapshot.entity_id.encode(),
                    value=snapshot.to_json(),
                )
            )
            if latency is not None:
                metrics.end_to_end_latency.labels("score").observe(latency)
    partitions = pipeline.settings.partitions
    for summary in emitted.summaries:
        encoded = summary.to_bytes()
        for partition in summary_partitions(summary, partitions):
            summaries.add(
                encoded,
                origin=origin,
                partition=partition,
                timestamp=received_at,
                headers=lane_header(lane),
                at_us=summary.occurred_at_us,
            )
    return deliveries


def _count(pipeline: Pipeline, emitted: Emitted) -> None:
    metrics = pipeline.metrics
    for grade in emitted.grades:
        metrics.grades.labels(grade).inc()
    for before, after in emitted.loyalty_transitions:
        metrics.loyalty_transitions.labels(before, after).inc()
    for entity_type, entity_id, score in emitted.consistency:
        metrics.consistency.labels(entity_type.value).observe(score)
        metrics.set_entity_consistency(entity_type.value, entity_id, score)
    for rule_id, friction in emitted.rule_friction:
        metrics.set_rule_friction(rule_id, friction)
    for summary in emitted.summaries:
        if summary.kind == MENTION and summary.term and summary.term != CHURN_ENTITY:
            metrics.competitor_mentions.labels(summary.term).inc()
    if emitted.dazzle_balance is not None:
        metrics.dazzle_balance.observe(emitted.dazzle_balance)
    if emitted.late_events:
        metrics.late.labels("event").inc(emitted.late_events)
    if emitted.late_summaries:
        metrics.late.labels("summary").inc(emitted.late_summaries)
