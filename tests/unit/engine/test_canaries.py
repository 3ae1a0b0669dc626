"""Canaries: every private name of faust-streaming, aiokafka and mode that cxpulse/engine
relies on, with the signature or behaviour the patch assumes.

An upgrade that moves one fails here, with a sentence naming the patch to revisit, instead
of silently disabling it.  docs/architecture.md lists the patches.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from typing import Any

import aiokafka
import faust
import pytest
from faust.stores.rocksdb import Store as RocksDBStore
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults


def parameters(function: Any) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


#: (owner, private name, the parameters the patch passes, the patch that relies on it)
METHODS = [
    (
        faust_aiokafka.AIOKafkaConsumerThread,
        "_create_worker_consumer",
        ["transport"],
        "transactions.CommittedHighwaterConsumerThread sets fetch_max_wait_ms",
    ),
    (
        faust_aiokafka.AIOKafkaConsumerThread,
        "_highwaters",
        ["partitions"],
        "transactions.CommittedHighwaterConsumerThread reads committed end offsets",
    ),
    (
        faust_aiokafka.AIOKafkaConsumerThread,
        "_ensure_consumer",
        [],
        "transactions.CommittedHighwaterConsumerThread._highwaters",
    ),
    (
        faust_aiokafka.Consumer,
        "_new_consumer_thread",
        [],
        "transactions.GatedConsumer installs its consumer thread",
    ),
    (
        faust_aiokafka.Consumer,
        "_getmany",
        ["active_partitions", "timeout"],
        "transactions.GatedConsumer._getmany fetches the partitions active when it began",
    ),
    (
        faust_aiokafka.Consumer,
        "_commit_offsets",
        ["offsets", "start_new_transaction"],
        "transactions.GatedConsumer records commit times for faust's livelock check",
    ),
    (
        faust_aiokafka.Consumer,
        "commit",
        ["topics", "start_new_transaction"],
        "transactions.GatedConsumer.commit (the numbered commit order)",
    ),
    (
        faust_aiokafka.Consumer,
        "perform_seek",
        [],
        "transactions.GatedConsumer.perform_seek releases held-back partitions",
    ),
    (
        faust_aiokafka.Consumer,
        "resume_partitions",
        ["tps"],
        "transactions.GatedConsumer.resume_partitions holds stream partitions back",
    ),
    (
        faust_aiokafka.Consumer,
        "_is_changelog_tp",
        ["tp"],
        "transactions.GatedConsumer.resume_partitions tells changelogs apart",
    ),
    (
        faust_aiokafka.Consumer,
        "wait_first",
        ["coros", "timeout"],
        "transactions.GatedConsumer.wait_first hands a fetched message on eagerly",
    ),
    (
        faust_aiokafka.Consumer,
        "_wait_next_records",
        ["timeout"],
        "transactions.GatedConsumer._wait_next_records hands batch topics' records on",
    ),
    (
        faust_aiokafka.Consumer,
        "_filter_tps_with_pending_acks",
        ["topics"],
        "transactions.GatedConsumer commits the partitions of handled batches",
    ),
    (
        faust_aiokafka.Consumer,
        "_new_offset",
        ["tp"],
        "transactions.GatedConsumer._new_offset: one past a batch's last record",
    ),
    (
        faust_aiokafka.Consumer,
        "on_partitions_revoked",
        ["revoked"],
        "transactions.GatedConsumer waits for the batch in flight before a revoke",
    ),
    (
        faust_aiokafka.Consumer,
        "wait_empty",
        [],
        "transactions.GatedConsumer.wait_empty waits for the batch in flight",
    ),
    (
        faust.App,
        "_on_partitions_assigned",
        ["assigned", "generation_id"],
        "transactions.TransactionalApp marks the seek pending on assignment",
    ),
    (
        faust.App,
        "_new_transport",
        [],
        "transactions.TransactionalApp installs TransactionalTransport",
    ),
    (
        Recovery,
        "_build_offsets",
        ["consumer", "tps", "destination", "title"],
        "recovery.PromptRecovery ends recovery at the last committed changelog record",
    ),
    (
        faust.Table,
        "_new_store_by_url",
        ["url"],
        "tables.StateTable gives RocksDB stores the shared memory budget",
    ),
    (
        faust.Table,
        "_on_changelog_sent",
        ["fut"],
        "tables.StateTable.put records the persisted changelog offset",
    ),
    (
        faust.Table,
        "send_changelog",
        ["partition", "key", "value", "key_serializer", "value_serializer"],
        "tables.StateTable.send_changelog waits for faust's own changelog writes",
    ),
]


@pytest.mark.parametrize(
    ("owner", "name", "expected", "patch"),
    METHODS,
    ids=[f"{m[0].__name__}.{m[1]}" for m in METHODS],
)
def test_a_patched_method_is_where_the_patch_expects_it(
    owner: type, name: str, expected: list[str], patch: str
) -> None:
    method = getattr(owner, name, None)
    assert callable(method), f"{owner.__qualname__}.{name} is gone: revisit {patch}"
    assert parameters(method) == expected, (
        f"{owner.__qualname__}.{name}{inspect.signature(method)} changed: revisit {patch}"
    )


def test_the_current_event_is_a_context_variable() -> None:
    from faust import streams

    current = getattr(streams, "_current_event", None)
    assert isinstance(current, contextvars.ContextVar), (
        "faust.streams._current_event is no context variable: revisit state.acting_for, "
        "which files table reads and writes under the record's partition"
    )


def test_the_transport_takes_its_consumer_class_from_a_slot() -> None:
    assert faust_aiokafka.Transport.Consumer is faust_aiokafka.Consumer, (
        "faust's aiokafka Transport no longer names its Consumer class in a slot: revisit "
        "transactions.TransactionalTransport"
    )


def test_the_table_manager_keeps_recovery_and_pending_offsets_where_the_patch_reads_them() -> None:
    source = inspect.getsource(TableManager)
    for name in ("_recovery", "_pending_persisted_offsets"):
        assert name in source, (
            f"faust's TableManager has no {name}: revisit recovery.PromptTableManager"
        )
    assert isinstance(inspect.getattr_static(TableManager, "recovery"), property), (
        "TableManager.recovery is no property: revisit recovery.PromptTableManager.recovery"
    )


def test_the_aiokafka_consumer_keeps_its_fetch_wait_where_the_patch_sets_it() -> None:
    async def read() -> tuple[Any, Any]:
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", fetch_max_wait_ms=77)
        try:
            client = getattr(consumer, "_client", None)
            return getattr(consumer, "_fetch_max_wait_ms", None), getattr(client, "_conns", None)
        finally:
            await consumer.stop()

    fetch_max_wait_ms, connections = asyncio.run(read())
    assert fetch_max_wait_ms == 77, (
        "AIOKafkaConsumer._fetch_max_wait_ms moved: revisit "
        "transactions.CommittedHighwaterConsumerThread._create_worker_consumer"
    )
    assert isinstance(connections, dict), (
        "AIOKafkaConsumer._client._conns moved: revisit readiness.broker_connected "
        "(it now reports not ready)"
    )


def test_wait_results_take_done_results_and_stopped() -> None:
    assert parameters(WaitResults) == ["done", "results", "stopped"], (
        "mode's WaitResults changed: revisit transactions.GatedConsumer.wait_first"
    )


def test_the_rocksdb_store_keeps_its_options_where_the_patch_replaces_them() -> None:
    source = inspect.getsource(RocksDBStore)
    assert "self.rocksdb_options" in source, (
        "faust's RocksDB store no longer reads self.rocksdb_options: revisit "
        "tables.StateTable._new_store_by_url and rocksdb_memory.SharedMemoryOptions"
    )


def test_the_consumer_thread_keeps_its_commit_times_where_the_patch_writes_them() -> None:
    source = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread)
    assert "tp_last_committed_at" in source, (
        "faust's consumer thread has no tp_last_committed_at: revisit "
        "transactions.GatedConsumer._commit_offsets"
    )


def test_faust_still_records_no_gap_after_offset_zero() -> None:
    """transactions.skipped_after_offset_zero fills in the gap faust's fetch loop leaves out
    when the last offset read is 0; once faust records it, the patch double-counts nothing
    (a gap is a set) but is dead code: revisit it then."""
    from faust.transport.consumer import Consumer

    source = inspect.getsource(Consumer._drain_messages)
    assert "if gap > 1 and r_offset:" in source, (
        "faust's fetch loop changed how it detects a gap: revisit "
        "transactions.skipped_after_offset_zero"
    )
    assert callable(getattr(Consumer, "_add_gap", None)), (
        "Consumer._add_gap is gone: revisit transactions.GatedConsumer._getmany"
    )
    assert parameters(Consumer._add_gap) == ["tp", "offset_from", "offset_to"]


def test_the_connection_helpers_of_the_access_check_keep_their_signatures() -> None:
    """config.kafka_security.check_broker_access logs in to one bootstrap server before a
    command starts its clients, with aiokafka's own connection helpers (not public API)."""
    from aiokafka import conn
    from aiokafka.protocol.metadata import MetadataRequest

    revisit = "revisit config.kafka_security.check_broker_access"
    create = inspect.signature(conn.create_conn).parameters
    for name in ("host", "port", "request_timeout_ms", "security_protocol", "ssl_context"):
        assert name in create, f"aiokafka.conn.create_conn has no {name!r}: {revisit}"
    hosts = conn.collect_hosts("127.0.0.1:9092,localhost:9093", randomize=False)
    assert [(host, port) for host, port, _family in hosts] == [
        ("127.0.0.1", 9092),
        ("localhost", 9093),
    ], f"aiokafka.conn.collect_hosts changed its answer: {revisit}"
    assert list(inspect.signature(MetadataRequest).parameters)[:1] == ["topics"], (
        f"MetadataRequest no longer takes the topics first: {revisit}"
    )
    assert callable(getattr(MetadataRequest([]), "build", None)), (
        f"MetadataRequest([]) no longer builds a request: {revisit}"
    )


def test_the_consumer_keeps_the_read_offsets_and_flow_the_batch_path_reads() -> None:
    """transactions.GatedConsumer._hand_on reads faust's read offsets and flow flag, and
    tells the monitor what faust's per-record loop tells it (the lag gauge reads it)."""
    from faust.sensors.monitor import Monitor
    from faust.transport.consumer import Consumer

    revisit = "revisit transactions.GatedConsumer._hand_on"
    source = inspect.getsource(Consumer)
    for name in ("self._read_offset", "self.flow_active", "self.consumer_generation_id"):
        assert name in source or name.replace("self.", "self.app.") in source, (
            f"faust's Consumer no longer keeps {name}: {revisit}"
        )
    assert "records, active_partitions = await self._wait_next_records" in source, (
        f"faust's getmany no longer takes (records, active partitions): {revisit}"
    )
    monitor = inspect.getsource(Monitor)
    for name in ("tp_read_offsets", "stream_inbound_time", "def track_tp_end_offset"):
        assert name in monitor, f"faust's Monitor has no {name}: {revisit}"
