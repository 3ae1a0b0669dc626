"""Event-time watermarks of the entity side: when a window of summaries is complete.

Summaries reach a partition of the summaries topic from ``config.lanes`` lanes (the
partitions of the customer-keyed events topic), each lane in event-time order, the lanes
interleaved in any order.  Every record a lane sends carries the lane's *high*: the latest
summary time that lane has made so far, whichever partition the summaries went to.  A
partition keeps the highs of every lane in one ``PartitionClock``; its watermark is the
slowest lane's high less ``allowed_lateness``, and a window ending at or before the
watermark can receive no more summaries: it is closed, scored and may alert.

The clock belongs to the partition, not to one entity, so a quiet agent's windows close
as soon as the traffic of the other entities has moved every lane past them, and whether a
window is complete never depends on the order in which the lanes were read.  The clock
never guesses that a lane is idle: a window waits for every lane (docs/scoring.md,
section 6), so a crash and a catch-up that runs one lane far ahead of the others close
exactly the windows an unhurried stream closes, with the same content.

Nothing here imports faust or Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from cxpulse.scoring import compact_json
from cxpulse.scoring.config import ScoringConfig

__all__ = ["PartitionClock", "closable_through", "window_start"]


@dataclass
class PartitionClock:
    """The lane highs of one summaries partition and the entities with open windows there."""

    #: The latest summary time each lane has reported (0: not yet).
    lane_high: list[int] = field(default_factory=list)
    #: Every window ending at or before this time is closed (for every entity).
    closed_through_us: int = 0
    #: Entity key -> end of its earliest open window: the entities a watermark can close.
    open: dict[str, int] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return compact_json.dumps(self)

    @classmethod
    def from_bytes(cls, raw: bytes) -> PartitionClock:
        fields: dict[str, Any] = orjson.loads(raw)
        return cls(**fields)

    def advance(self, lane: int, high_us: int, config: ScoringConfig) -> bool:
        """Record that ``lane`` has made every summary up to ``high_us``; True if that
        moved the watermark to a later window boundary (``closed_through_us``)."""
        if lane < 0:
            raise ValueError(f"lane must be >= 0, got {lane}")
        highs = self.lane_high
        if len(highs) <= lane:
            highs.extend([0] * (lane + 1 - len(highs)))
        if high_us <= highs[lane]:
            return False
        highs[lane] = high_us
        closable = closable_through(highs, config)
        if closable <= self.closed_through_us:
            return False
        self.closed_through_us = closable
        return True


def window_start(at_us: int, config: ScoringConfig) -> int:
    width = config.entity_window_us
    return at_us - at_us % width


def closable_through(lane_high: list[int], config: ScoringConfig) -> int:
    """The end of the last window every lane has moved past (0: none yet).

    The lanes are ``0 .. config.lanes - 1`` and any other lane that has reported (a topic
    with more partitions than configured); one that has not reported holds every window.
    """
    if len(lane_high) < config.lanes:
        return 0
    waited = [high for lane, high in enumerate(lane_high) if high or lane < config.lanes]
    slowest = min(waited)
    if not slowest:
        return 0
    return window_start(slowest - config.allowed_lateness_us, config)
