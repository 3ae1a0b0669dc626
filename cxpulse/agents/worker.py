"""`cxpulse worker`: create topics, build the pipeline, run the faust worker until stopped."""

from __future__ import annotations

import asyncio
import sys

import faust
from prometheus_client import CollectorRegistry

from cxpulse.agents.app import build_pipeline
from cxpulse.agents.metrics import Metrics
from cxpulse.agents.settings import Settings
from cxpulse.agents.topics import BrokerUnavailable, ensure_topics


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
    worker = faust.Worker(pipeline.app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()  # exits the process when the worker stops
    return 0
