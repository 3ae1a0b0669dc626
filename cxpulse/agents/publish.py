"""Send what the scoring code emitted to the output topics, and count it."""

from __future__ import annotations

import time

from cxpulse.agents.pipeline import Pipeline
from cxpulse.agents.routes import route_key
from cxpulse.agents.scoring.emitted import Emitted
from cxpulse.agents.scoring.entity import summary_routes


async def publish(pipeline: Pipeline, emitted: Emitted) -> None:
    metrics = pipeline.metrics
    if emitted.duplicate:
        metrics.duplicates.inc()
        return
    now = time.time()
    _count(pipeline, emitted)
    for alert in emitted.alerts:
        await pipeline.alerts_topic.send(key=alert.entity_id.encode(), value=alert.to_json())
        metrics.alerts.labels(alert.kind, alert.severity.value).inc()
        metrics.end_to_end_latency.labels("alert").observe(
            max(0.0, now - alert.occurred_at.timestamp())
        )
    if pipeline.settings.emit_snapshots:
        for snapshot in emitted.snapshots:
            await pipeline.scores_topic.send(
                key=snapshot.entity_id.encode(), value=snapshot.to_json()
            )
            metrics.end_to_end_latency.labels("score").observe(
                max(0.0, now - snapshot.as_of.timestamp())
            )
    for summary in emitted.summaries:
        for entity_type, entity_id in summary_routes(summary):
            await pipeline.summaries_topic.send(
                key=route_key(entity_type, entity_id), value=summary.to_bytes()
            )


def _count(pipeline: Pipeline, emitted: Emitted) -> None:
    metrics = pipeline.metrics
    for grade in emitted.grades:
        metrics.grades.labels(grade).inc()
    for before, after in emitted.loyalty_transitions:
        metrics.loyalty_transitions.labels(before, after).inc()
    for entity_type, entity_id, score in emitted.consistency:
        metrics.consistency.labels(entity_type.value).observe(score)
        metrics.set_entity_consistency(entity_type.value, entity_id, score)
    if emitted.dazzle_balance is not None:
        metrics.dazzle_balance.observe(emitted.dazzle_balance)
    if emitted.late_events:
        metrics.late.labels("event").inc(emitted.late_events)
    if emitted.late_summaries:
        metrics.late.labels("summary").inc(emitted.late_summaries)
