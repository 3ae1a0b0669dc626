"""Small helpers for integration tests: produce to and collect from the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    sent = 0
    try:
        for key, value in records:
            await producer.send(topic, key=key, value=value)
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def produce_events(bootstrap: str, topic: str, events: Iterable[dict[str, Any]]) -> int:
    return asyncio.run(
        produce(
            bootstrap,
            topic,
            ((str(e["customer_id"]).encode(), orjson.dumps(e)) for e in events),
        )
    )


def produce_raw(bootstrap: str, topic: str, payloads: Iterable[bytes]) -> int:
    return asyncio.run(produce(bootstrap, topic, ((None, p) for p in payloads)))


async def _collect(
    bootstrap: str,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float,
    settle_s: float,
) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(records):
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(orjson.loads(r.value) for r in partition_records)
        # Keep reading a little: a test that expects "exactly one" must see a second one.
        settle_deadline = time.monotonic() + settle_s
        while time.monotonic() < settle_deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(orjson.loads(r.value) for r in partition_records)
    finally:
        await consumer.stop()
    return records


def collect(
    bootstrap: str,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float = 60.0,
    settle_s: float = 2.0,
) -> list[dict[str, Any]]:
    """All JSON records of ``topic`` from the start, once ``until(records)`` holds (or timeout)."""
    return asyncio.run(_collect(bootstrap, topic, until, timeout_s, settle_s))


def collect_ids(
    bootstrap: str,
    topic: str,
    expected: set[str],
    *,
    id_field: str = "alert_id",
    timeout_s: float = 180.0,
    settle_s: float = 5.0,
) -> list[dict[str, Any]]:
    """Records of ``topic`` once every id in ``expected`` has arrived (or on timeout)."""
    return collect(
        bootstrap,
        topic,
        until=lambda rs: {r[id_field] for r in rs} >= expected,
        timeout_s=timeout_s,
        settle_s=settle_s,
    )
