from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from cxpulse.config.settings import Settings
from cxpulse.metrics import Metrics
from cxpulse.worker.app import build_pipeline

MIB = 1024 * 1024


def test_every_rocksdb_store_of_the_worker_draws_on_one_memory_budget(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), rocksdb_memory_mb=24, rocksdb_write_buffer_mb=5)
    pipeline = build_pipeline(settings, Metrics(CollectorRegistry()))

    stores = [table.data for table in (pipeline.customers, pipeline.entities)]
    memory = stores[0].rocksdb_options.memory
    for store in stores:
        assert store.rocksdb_options.memory is memory
        assert store.rocksdb_options.write_buffer_size == 5 * MIB
        assert store.rocksdb_options.max_write_buffer_number == 2
    assert memory.write_buffers.get_buffer_size() == 12 * MIB

    before = memory.cache.get_usage()
    stores[0]._db_for_partition(0)[b"c1"] = b"x" * 1000
    stores[1]._db_for_partition(3)[b"agent:a1"] = b"x" * 1000
    assert memory.write_buffers.get_usage() > 0
    assert memory.cache.get_usage() > before  # the write buffers are charged to the cache


def test_the_shared_budget_flushes_write_buffers_before_their_own_size(tmp_path: Path) -> None:
    """16 MiB of writes under a 64 MiB write buffer: only the shared budget (half of 16 MiB)
    can have flushed them to a table file."""
    settings = Settings(data_dir=str(tmp_path), rocksdb_memory_mb=16, rocksdb_write_buffer_mb=64)
    store = build_pipeline(settings, Metrics(CollectorRegistry())).customers.data
    db = store._db_for_partition(0)

    for i in range(16 * 1024):
        db[b"c%d" % i] = bytes(1024)
    deadline = time.monotonic() + 10
    while not list(tmp_path.rglob("customers-0.db/*.sst")) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert list(tmp_path.rglob("customers-0.db/*.sst"))


def test_the_memory_store_accepts_the_same_tables(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), store="memory://")
    pipeline = build_pipeline(settings, Metrics(CollectorRegistry()))

    pipeline.customers.data[b"c1"] = b"{}"
    assert pipeline.customers.data[b"c1"] == b"{}"


@pytest.mark.parametrize("field", ["rocksdb_memory_mb", "rocksdb_write_buffer_mb"])
def test_rocksdb_memory_settings_refuse_zero(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Settings.model_validate({field: 0})


def test_the_consumer_waits_at_most_the_configured_fetch_wait(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), fetch_max_wait_ms=40)

    async def configured_wait() -> int:
        app = build_pipeline(settings, Metrics(CollectorRegistry())).app
        thread = app.consumer._thread  # type: ignore[attr-defined]  # made with it, not started
        consumer = thread._create_worker_consumer(app.consumer.transport)
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()
            thread.thread_loop.close()

    assert asyncio.run(configured_wait()) == 40  # faust's own is 1500
