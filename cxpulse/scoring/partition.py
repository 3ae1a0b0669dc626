"""One record of the summaries topic, scored on its partition.

A record brings summaries from one lane and that lane's high (``windows.py``): each summary
is added to the windows of the entities it concerns on this partition, then the lane's high
moves the partition's watermark, and every entity with a window (or an incident) the
watermark has passed is closed and scored, whether or not the record concerned it.  The
replay calls the same function with its own interleaving of the lanes; any interleaving
gives the same outputs (``tests/unit/scoring/test_partition.py``).

Nothing here imports faust or Kafka: the entity scorer agent loads the states this asks
for and saves the ones it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cxpulse.schemas.outputs import EntityType
from cxpulse.scoring.config import ScoringConfig
from cxpulse.scoring.emitted import Emitted
from cxpulse.scoring.entity import EntityState, add_summary, close_through, first_due_us
from cxpulse.scoring.summary import InteractionSummary
from cxpulse.scoring.windows import PartitionClock

__all__ = ["PartitionStep", "entity_key", "parse_entity_key", "score_partition_record"]

SEPARATOR = ":"

Route = tuple[EntityType, str]


def entity_key(entity_type: EntityType, entity_id: str) -> str:
    return f"{entity_type.value}{SEPARATOR}{entity_id}"


def parse_entity_key(key: str) -> Route:
    """Inverse of ``entity_key``; raises ``ValueError`` for a key it did not make."""
    entity_type, separator, entity_id = key.partition(SEPARATOR)
    if not separator or not entity_id:
        raise ValueError(f"not an entity key: {key!r}")
    return EntityType(entity_type), entity_id


@dataclass
class PartitionStep:
    """What one record did: the entity states to save (by entity key) and the outputs."""

    states: dict[str, EntityState] = field(default_factory=dict)
    emitted: list[Emitted] = field(default_factory=list)


def score_partition_record(
    clock: PartitionClock,
    load: Callable[[str], EntityState | None],
    routed: Iterable[tuple[InteractionSummary, Iterable[Route]]],
    config: ScoringConfig,
    *,
    lane: int,
    lane_high_us: int,
) -> PartitionStep:
    """Score one record: ``routed`` pairs each of its summaries with the entities of this
    partition it concerns; ``lane_high_us`` is the latest summary time of ``lane`` when
    the record was sent.  ``clock`` is updated in place; ``load`` reads an entity's state
    by key (None: a new entity)."""
    step = PartitionStep()

    def state_of(key: str) -> EntityState | None:
        return step.states[key] if key in step.states else load(key)

    for summary, routes in routed:
        for entity_type, entity_id in routes:
            key = entity_key(entity_type, entity_id)
            state, emitted = add_summary(
                state_of(key),
                entity_type,
                entity_id,
                summary,
                config,
                closed_through_us=clock.closed_through_us,
            )
            step.emitted.append(emitted)
            if not emitted.duplicate:
                step.states[key] = state
                _index(clock, key, state, config)
    if not clock.advance(lane, lane_high_us, config):
        return step
    through = clock.closed_through_us
    for key, due in sorted(clock.open.items()):
        if due > through:
            continue
        found = state_of(key)
        if found is None:  # the index names a state that is gone: nothing to close
            del clock.open[key]
            continue
        state, emitted = close_through(found, parse_entity_key(key)[0], through, config)
        step.emitted.append(emitted)
        step.states[key] = state
        _index(clock, key, state, config)
    return step


def _index(clock: PartitionClock, key: str, state: EntityState, config: ScoringConfig) -> None:
    due = first_due_us(state, config)
    if due is None:
        clock.open.pop(key, None)
    else:
        clock.open[key] = due
