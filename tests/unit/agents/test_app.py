from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from cxpulse.agents.app import build_pipeline
from cxpulse.agents.metrics import Metrics
from cxpulse.agents.settings import Settings

MIB = 1024 * 1024


def test_rocksdb_stores_get_the_configured_memory_bounds(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), rocksdb_cache_mb=3, rocksdb_write_buffer_mb=5)
    pipeline = build_pipeline(settings, Metrics(CollectorRegistry()))

    for table in (pipeline.customers, pipeline.entities):
        options = table.data.rocksdb_options
        assert options.block_cache_size == 3 * MIB
        assert options.write_buffer_size == 5 * MIB
        assert options.max_write_buffer_number == 2


def test_the_memory_store_accepts_the_same_tables(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), store="memory://")
    pipeline = build_pipeline(settings, Metrics(CollectorRegistry()))

    pipeline.customers.data[b"c1"] = b"{}"
    assert pipeline.customers.data[b"c1"] == b"{}"


@pytest.mark.parametrize("field", ["rocksdb_cache_mb", "rocksdb_write_buffer_mb"])
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
