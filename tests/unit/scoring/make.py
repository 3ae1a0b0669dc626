"""Build v1 events for scoring tests: ids and times advance on their own."""

from __future__ import annotations

import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

from cxpulse.schemas.events import EVENT_ADAPTER, Event
from cxpulse.schemas.outputs import EntityType
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.emitted import Emitted
from cxpulse.scoring.entity import EntityState
from cxpulse.scoring.partition import entity_key, score_partition_record
from cxpulse.scoring.summary import InteractionSummary
from cxpulse.scoring.windows import PartitionClock

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Events:
    """One customer's events; ``at`` is minutes after ``T0``."""

    def __init__(self, customer_id: str = "c1", prefix: str = "e") -> None:
        self.customer_id = customer_id
        self.prefix = prefix
        self.count = 0

    def make(self, type_: str, at: float, **fields: Any) -> Event:
        self.count += 1
        payload = {
            "event_id": f"{self.prefix}{self.count}",
            "type": type_,
            "occurred_at": (T0 + timedelta(minutes=at)).isoformat(),
            "customer_id": self.customer_id,
            **fields,
        }
        return EVENT_ADAPTER.validate_python(payload)

    def contact(
        self,
        interaction_id: str,
        at: float,
        outcome: str = "resolved",
        *,
        agent_id: str = "a1",
        queue_id: str = "q1",
        wait: float = 30.0,
        handle: float = 300.0,
    ) -> list[Event]:
        """A whole contact: started, connected, ended (two minutes later)."""
        route = {"interaction_id": interaction_id, "agent_id": agent_id, "queue_id": queue_id}
        return [
            self.make("interaction.started", at, channel="voice", **route),
            self.make("interaction.connected", at + 0.5, wait_seconds=wait, **route),
            self.make(
                "interaction.ended",
                at + 2,
                outcome=outcome,
                wait_seconds=wait,
                handle_seconds=handle,
                hold_seconds=0,
                transfers=0,
                **route,
            ),
        ]


def merged(steps: list[Emitted]) -> Emitted:
    """The outputs of several scoring steps as one."""
    return Emitted(
        alerts=tuple(a for e in steps for a in e.alerts),
        snapshots=tuple(s for e in steps for s in e.snapshots),
        consistency=tuple(c for e in steps for c in e.consistency),
        rule_friction=tuple(f for e in steps for f in e.rule_friction),
        duplicate=any(e.duplicate for e in steps),
        late_summaries=sum(e.late_summaries for e in steps),
        windows_closed=sum(e.windows_closed for e in steps),
    )


class OneEntity:
    """A summaries partition that holds one entity: each summary is a record of its lane
    whose high is the summary's own time (lanes in time order)."""

    def __init__(self, config: ScoringConfig) -> None:
        self.config = config
        self.clock = PartitionClock()

    def score(
        self,
        state: EntityState | None,
        entity_type: EntityType,
        entity_id: str,
        summary: InteractionSummary,
        *,
        lane: int = 0,
    ) -> tuple[EntityState, Emitted]:
        key = entity_key(entity_type, entity_id)
        step = score_partition_record(
            self.clock,
            {key: state}.get if state is not None else (lambda _: None),
            [(summary, [(entity_type, entity_id)])],
            self.config,
            lane=lane,
            lane_high_us=summary.occurred_at_us,
        )
        found = step.states.get(key, state)
        assert found is not None
        return found, merged(step.emitted)


#: The partition each state returned by :func:`score_alone` goes on with, by the state's
#: id, with a weak reference to the state: once a state is collected its id may be given
#: to a new one, which must not inherit the old partition's clock.
_ALONE: dict[int, tuple[weakref.ref[EntityState], OneEntity]] = {}


def score_alone(
    state: EntityState | None,
    entity_type: EntityType,
    entity_id: str,
    summary: InteractionSummary,
    config: ScoringConfig,
    *,
    lane: int = 0,
) -> tuple[EntityState, Emitted]:
    """Score ``summary`` for an entity alone on its partition (``OneEntity``), going on
    with the partition of ``state`` (a new one for None)."""
    partition = None
    if state is not None:
        known, partition = _ALONE.pop(id(state), (None, None))
        if known is None or known() is not state:
            partition = None
    if partition is None:
        partition = OneEntity(config)
    state, emitted = partition.score(state, entity_type, entity_id, summary, lane=lane)
    _ALONE[id(state)] = (weakref.ref(state), partition)
    return state, emitted
