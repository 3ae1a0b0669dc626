"""The benchmark's input: simulator events as the records a producer would send."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.kafka_ops import Record
from cxpulse.scoring import compact_json
from cxpulse.simulate import CustomerSpread, Json, SimulationConfig, generate


@dataclass(frozen=True)
class Workload:
    records: list[Record]
    event_ids: list[str]
    customers: int

    def __len__(self) -> int:
        return len(self.records)


def workload(count: int, customers: int, seed: int, spread: CustomerSpread = "skewed") -> Workload:
    """``count`` simulator events keyed by ``customer_id``, as compact JSON."""
    config = SimulationConfig(seed=seed, count=count, customers=customers, customer_spread=spread)
    return _as_records(generate(config), customers)


def every_customer_once(customers: int, seed: int) -> Workload:
    """Evenly spread simulator events up to the first event of the last customer to appear.

    So every one of ``customers`` holds state, at about 4.4 events each.
    """
    config = SimulationConfig(seed=seed, count=None, customers=customers, customer_spread="even")
    return _as_records(_until_all_seen(generate(config), customers), customers)


def _until_all_seen(events: Iterable[Json], customers: int) -> Iterable[Json]:
    seen: set[str] = set()
    for event in events:
        yield event
        seen.add(event["customer_id"])
        if len(seen) == customers:
            return


def _as_records(events: Iterable[Json], customers: int) -> Workload:
    records: list[Record] = []
    event_ids: list[str] = []
    for event in events:
        records.append((event["customer_id"].encode(), compact_json.dumps(event)))
        event_ids.append(event["event_id"])
    return Workload(records, event_ids, customers)
