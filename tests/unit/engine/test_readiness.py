from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry

from cxpulse.config.settings import Settings
from cxpulse.engine.readiness import waiting_for
from cxpulse.engine.tables import count_keys
from cxpulse.metrics import Metrics
from cxpulse.worker.app import build_pipeline


def rocksdb_customers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The customers table on RocksDB, with partitions 0 and 1 assigned to this worker."""
    pipeline = build_pipeline(Settings(data_dir=str(tmp_path)), Metrics(CollectorRegistry()))
    table = pipeline.customers
    changelog = table.changelog_topic_name
    actives = {TP(changelog, 0), TP(changelog, 1)}
    monkeypatch.setattr(pipeline.app.assignor, "assigned_actives", lambda: actives)
    return table


def test_a_rocksdb_table_counts_the_keys_of_its_active_partitions_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = rocksdb_customers(tmp_path, monkeypatch)
    store = table.data
    changelog = table.changelog_topic_name
    for partition, keys in ((0, 7), (1, 5), (2, 4)):  # partition 2 is not assigned here
        db = store._db_for_partition(partition)
        for i in range(keys):
            db[f"cust-{partition}-{i}".encode()] = b"{}"
    store.set_persisted_offset(TP(changelog, 0), 41)  # faust's offset key is not a key

    counted, turns = asyncio.run(count_while_looping(table, chunk=3))
    assert counted == 12
    assert turns >= 12 // 3  # the loop ran between chunks: the count never held it


def test_a_store_opened_during_the_count_gives_no_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = rocksdb_customers(tmp_path, monkeypatch)
    store = table.data
    for partition in (0, 1):
        store._db_for_partition(partition)[f"cust-{partition}".encode()] = b"{}"

    async def rebalance_during_the_count() -> int | None:
        counting = asyncio.create_task(count_keys(table, chunk=1))
        await asyncio.sleep(0)  # the walk has started and yielded after its first key
        store._db_for_partition(2)  # a rebalance assigns another partition
        return await counting

    assert asyncio.run(rebalance_during_the_count()) is None


async def count_while_looping(table: Any, chunk: int) -> tuple[int | None, int]:
    """The count, and how often another task ran while it was taken."""
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    before = turns
    counted = await count_keys(table, chunk=chunk)
    task.cancel()
    return counted, turns - before


def test_a_memory_table_counts_its_keys(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), store="memory://")
    table = build_pipeline(settings, Metrics(CollectorRegistry())).customers
    for i in range(4):
        table.data[f"cust-{i}".encode()] = b"{}"

    assert asyncio.run(count_keys(table)) == 4


def test_readiness_says_what_it_waits_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_pipeline(Settings(data_dir=str(tmp_path)), Metrics(CollectorRegistry())).app
    monkeypatch.setattr(app.consumer, "assignment", set)  # not started: nothing assigned
    thread: Any = app.consumer._thread  # type: ignore[attr-defined]  # faust's consumer thread
    try:
        # not started: nothing is connected either
        assert waiting_for(app) == ["partition assignment", "table recovery", "a broker connection"]

        # In a broker outage every connection of the consumer's client is closed.
        connection = SimpleNamespace(connected=lambda: False)
        thread._consumer = SimpleNamespace(_client=SimpleNamespace(_conns={1: connection}))
        assert "a broker connection" in waiting_for(app)
        connection.connected = lambda: True
        assert "a broker connection" not in waiting_for(app)
    finally:
        thread.thread_loop.close()


def test_readiness_fails_closed_and_says_why_when_the_client_moved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_pipeline(Settings(data_dir=str(tmp_path)), Metrics(CollectorRegistry())).app
    monkeypatch.setattr(app.consumer, "assignment", set)
    thread: Any = app.consumer._thread  # type: ignore[attr-defined]  # faust's consumer thread
    try:
        thread._consumer = SimpleNamespace(client=SimpleNamespace(conns={}))  # renamed
        with caplog.at_level("ERROR"):
            assert "a broker connection" in waiting_for(app)
            assert "a broker connection" in waiting_for(app)
        said = [r.getMessage() for r in caplog.records if "_client._conns" in r.getMessage()]
        assert len(said) == 1, "said once, not at every check"
        assert "not ready" in said[0]
    finally:
        thread.thread_loop.close()
