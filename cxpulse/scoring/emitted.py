"""Everything one scoring step produced: outputs to publish and plain values for metrics."""

from __future__ import annotations

from dataclasses import dataclass

from cxpulse.schemas.outputs import Alert, EntityType, Insight, ScoreSnapshot
from cxpulse.scoring.summary import InteractionSummary


@dataclass(frozen=True, slots=True)
class Emitted:
    alerts: tuple[Alert, ...] = ()
    snapshots: tuple[ScoreSnapshot, ...] = ()
    summaries: tuple[InteractionSummary, ...] = ()
    #: Conversation intelligence, one insight per mention (docs/intelligence.md).
    insights: tuple[Insight, ...] = ()
    #: The event was a duplicate of an earlier ``event_id``: it had no effect.
    duplicate: bool = False
    #: Report-card grades of the interactions finished in this step ("F", "OK", "A").
    grades: tuple[str, ...] = ()
    #: Customer loyalty state changes, as (from_state, to_state).
    loyalty_transitions: tuple[tuple[str, str], ...] = ()
    #: Consistency scores computed in this step, as (entity type, entity id, score 0-100).
    consistency: tuple[tuple[EntityType, str, float], ...] = ()
    #: Rule friction scores (0-100) of the rule windows closed in this step, as (rule id,
    #: friction).
    rule_friction: tuple[tuple[str, float], ...] = ()
    #: The customer's dazzle balance right after an impulse changed it.
    dazzle_balance: float | None = None
    #: Events ignored because they came too late to change anything (see docs/scoring.md).
    late_events: int = 0
    #: Summaries that reached an entity after their window had closed (bounded disorder).
    late_summaries: int = 0
    #: Entity windows evaluated in this step.
    windows_closed: int = 0


DUPLICATE = Emitted(duplicate=True)
