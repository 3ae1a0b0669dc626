"""Step 0: the scoring floor, the CPU that cxpulse's own computation needs per event.

The preloaded records are validated, scored per customer and per entity, and every output
is encoded as JSON, in this process and with no Kafka, faust or state store: the
in-process replay (``cxpulse.replay``) over the same events the other steps read.
No worker can spend less per event than this, so it bounds what the faust-based pipeline
can reach: added to the do-nothing agent's cost per event, it gives the best ratio (3)/(2)
and the most events/s per worker that full scoring allows (``ceilings``).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Any

from bench.workload import Workload
from cxpulse.config.collector import pace_collector
from cxpulse.config.settings import Settings
from cxpulse.edge.decode import Rejection, decode_event
from cxpulse.replay import replay
from cxpulse.schemas.events import Event


@dataclass(frozen=True)
class ScoringFloor:
    events: int
    rejected: int
    outputs: int
    cpu_s: float

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_s * 1e6 / self.events

    @property
    def events_per_s(self) -> float:
        """Events per second of CPU: one core kept busy by scoring alone."""
        return self.events / self.cpu_s

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "cpu_us_per_event": self.cpu_us_per_event,
            "events_per_s": self.events_per_s,
        }


def scoring_floor(work: Workload, settings: Settings) -> ScoringFloor:
    """Validate, score and encode ``work`` once; the CPU time it took.

    The garbage collector runs at the pace every cxpulse command sets, and at the
    benchmark's own pace again afterwards.
    """
    previous = gc.get_threshold()
    pace_collector(settings.gc_young_threshold)
    try:
        return _score(work, settings)
    finally:
        gc.unfreeze()
        gc.set_threshold(*previous)


def _score(work: Workload, settings: Settings) -> ScoringFloor:
    config = settings.scoring_config()
    started = time.process_time()
    events: list[Event] = []
    rejected = 0
    for _key, value in work.records:
        decoded = decode_event(value, settings.max_event_bytes)
        if isinstance(decoded, Rejection):
            rejected += 1
        else:
            events.append(decoded)
    result = replay(events, config, with_snapshots=settings.emit_snapshots)
    outputs = [*result.alerts, *result.snapshots, *result.insights]
    for output in outputs:
        output.to_json()
    cpu_s = time.process_time() - started
    return ScoringFloor(len(work), rejected, len(outputs), cpu_s)


def ceilings(faust_events_per_s: float, floor_us_per_event: float) -> dict[str, float]:
    """What a worker reaches if it costs the do-nothing agent's time plus the floor's.

    The do-nothing agent keeps about one core busy, so its events/s give its cost per
    event; a real worker also writes state, produces outputs and commits, so it does worse.
    """
    faust_us = 1e6 / faust_events_per_s
    return {
        "cxpulse_vs_faust_ceiling": faust_us / (faust_us + floor_us_per_event),
        "events_per_s_ceiling": 1e6 / (faust_us + floor_us_per_event),
    }
