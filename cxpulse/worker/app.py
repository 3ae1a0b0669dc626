"""Build the faust app from settings: topics, tables, agents, web pages.

Data path: producers -> ``input_topic`` -> ingest (validate; dead letters branch off) ->
``events_topic`` keyed by customer_id -> scorer (customer state table) -> ``alerts`` /
``scores``, and finished interactions -> ``summaries_topic``, on the partitions of their
agent, queue and other entities -> entity scorer (entity state table) -> ``alerts`` /
``scores``.
"""

from __future__ import annotations

from typing import Any

import faust

from cxpulse.agents import ingest, scorer, vendor_ingest
from cxpulse.config.kafka_security import aiokafka_security_kwargs, faust_broker_kwargs
from cxpulse.config.settings import Settings
from cxpulse.edge.redact import Redactor
from cxpulse.engine.rocksdb_memory import MIB, SharedMemory
from cxpulse.engine.tables import StateTable
from cxpulse.engine.transactions import TransactionalApp
from cxpulse.metrics import Metrics
from cxpulse.worker import web
from cxpulse.worker.pipeline import Pipeline

RAW = "raw"


def broker_url(bootstrap: str) -> str:
    return ";".join(f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip())


def _raw_topic(app: faust.App, name: str) -> Any:
    return app.topic(name, key_serializer=RAW, value_serializer=RAW)


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """The size of each table partition's RocksDB write buffers; the worker's memory as a
    whole is bounded by ``rocksdb_memory.SharedMemory``."""
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * MIB,
        "max_write_buffer_number": 2,
    }


def _bytes_table(app: faust.App, name: str, settings: Settings, memory: SharedMemory) -> Any:
    """A table of bytes: scoring state serialises itself (compact JSON).

    faust picks the store's serializer from ``key_type`` / ``value_type`` and the
    changelog's from the schema; both must say raw bytes, or a RocksDB store would hand
    back parsed JSON instead of the bytes that were written.
    """
    schema: faust.Schema[bytes, bytes] = faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer=RAW, value_serializer=RAW
    )
    table = StateTable(
        app,
        name=name,
        key_type=bytes,
        value_type=bytes,
        schema=schema,
        partitions=settings.partitions,
        options=rocksdb_options(settings),
        rocksdb_memory=memory,
        beacon=app.tables.beacon,
    )
    return app.tables.add(table)


def app_kwargs(settings: Settings) -> dict[str, Any]:
    """The ``TransactionalApp`` keyword arguments of the pipeline (also the benchmark's
    do-nothing agent's): faust settings, the consumer's fetch wait and how the recovery's
    probe reaches the broker."""
    return dict(
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        batch_size=settings.batch_size,
        probe_kwargs={
            "bootstrap_servers": settings.kafka_bootstrap,
            **aiokafka_security_kwargs(settings),
        },
        broker=broker_url(settings.kafka_bootstrap),
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        processing_guarantee=settings.processing_guarantee,
        broker_commit_interval=settings.commit_interval_ms / 1000,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 5),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.005,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        autodiscover=False,
        table_standby_replicas=0,
        **faust_broker_kwargs(settings),
    )


def build_pipeline(settings: Settings, metrics: Metrics) -> Pipeline:
    app = TransactionalApp(settings.app_id, **app_kwargs(settings))
    memory = SharedMemory(settings.rocksdb_memory_mb * MIB)
    pipeline = Pipeline(
        app=app,
        settings=settings,
        scoring=settings.scoring_config(),
        metrics=metrics,
        redactor=Redactor.from_settings(settings),
        input_topic=_raw_topic(app, settings.input_topic),
        events_topic=_raw_topic(app, settings.events_topic),
        summaries_topic=_raw_topic(app, settings.summaries_topic),
        alerts_topic=_raw_topic(app, settings.alerts_topic),
        notices_topic=_raw_topic(app, settings.notices_topic),
        scores_topic=_raw_topic(app, settings.scores_topic),
        insights_topic=_raw_topic(app, settings.insights_topic),
        dead_letter_topic=_raw_topic(app, settings.dead_letter_topic),
        raw_topics={
            source: _raw_topic(app, settings.raw_topic(source))
            for source in settings.enabled_adapters()
        },
        customers=_bytes_table(app, "customers", settings, memory),
        entities=_bytes_table(app, "entities", settings, memory),
    )
    ingest.register(pipeline)
    vendor_ingest.register(pipeline)
    scorer.register(pipeline)
    web.register(pipeline)
    return pipeline
