"""`cxpulse worker`: create topics, build the pipeline, run the faust worker until stopped."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import faust
from prometheus_client import CollectorRegistry

from cxpulse.config.collector import pace_collector
from cxpulse.config.settings import Settings
from cxpulse.config.topics import BrokerUnavailable, ensure_topics
from cxpulse.engine.transactions import discard_unclean_store, mark_clean_stop
from cxpulse.metrics import Metrics
from cxpulse.worker.app import build_pipeline


def use_event_loop(name: str) -> None:
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_worker(settings: Settings) -> int:
    try:
        created = asyncio.run(ensure_topics(settings))
    except BrokerUnavailable as exc:
        print(f"cxpulse worker: {exc}", file=sys.stderr)
        return 2
    if created:
        print(f"cxpulse worker: created topics {', '.join(created)}", file=sys.stderr)
    use_event_loop(settings.event_loop)
    pipeline = build_pipeline(settings, Metrics(CollectorRegistry(), settings.max_entity_labels))
    app = pipeline.app
    # Again, now that faust and the app exist: their objects are never walked either.
    pace_collector(settings.gc_young_threshold)
    # Not ``app.in_transaction``: it is cached, and False until the worker exists.
    guarded = settings.processing_guarantee == "exactly_once" and settings.store.startswith(
        "rocksdb:"
    )
    tabledir = Path(app.conf.tabledir)
    if guarded and discard_unclean_store(tabledir):
        print(
            f"cxpulse worker: the last run did not stop cleanly; discarded {tabledir} "
            "(it may hold aborted writes) and restoring the tables from their changelogs",
            file=sys.stderr,
        )
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    # At warn or error faust's terminal spinner sets the root logger to DEBUG so that it
    # sees every record: each library log.debug() then builds a record (15 % of the CPU).
    worker.spinner = None
    try:
        worker.execute_from_commandline()  # exits the process when the worker stops
    except SystemExit:
        if guarded and app.stopped_cleanly():
            mark_clean_stop(tabledir)
        raise
    return 0
