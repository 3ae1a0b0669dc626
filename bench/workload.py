"""The benchmark's input: simulator events as the records a producer would send."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from bench.kafka_ops import Record
from cxpulse.agents.simulate import SimulationConfig, generate


@dataclass(frozen=True)
class Workload:
    records: list[Record]
    event_ids: list[str]
    customers: int

    def __len__(self) -> int:
        return len(self.records)


def workload(count: int, customers: int, seed: int) -> Workload:
    """``count`` simulator events keyed by ``customer_id``, as compact JSON."""
    records: list[Record] = []
    event_ids: list[str] = []
    for event in generate(SimulationConfig(seed=seed, count=count, customers=customers)):
        records.append((event["customer_id"].encode(), orjson.dumps(event)))
        event_ids.append(event["event_id"])
    return Workload(records, event_ids, customers)
