from __future__ import annotations

import orjson
import pytest

from bench.workload import every_customer_once, workload


@pytest.mark.parametrize("customers", [1, 37, 400])
def test_every_customer_once_ends_at_the_first_event_of_the_last_customer(customers: int) -> None:
    work = every_customer_once(customers, seed=3)
    keys = [key for key, _ in work.records]
    assert len(set(keys)) == customers
    assert keys[-1] not in keys[:-1]


def test_records_are_keyed_by_customer_and_carry_the_event() -> None:
    work = workload(200, customers=10, seed=5, spread="even")
    assert len(work) == 200
    for (key, value), event_id in zip(work.records, work.event_ids, strict=True):
        event = orjson.loads(value)
        assert key == event["customer_id"].encode()
        assert event_id == event["event_id"]
