"""HTTP endpoints beside faust's own: ``/metrics``, ``/healthz``, ``/readyz``.

A timer refreshes the gauges that describe the worker rather than the data: readiness and
consumer lag per partition every 5 s, table sizes at the first refresh and then every 30 s.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from faust.stores.memory import Store as MemoryStore
from prometheus_client import generate_latest

from cxpulse.agents.pipeline import Pipeline

PROMETHEUS_TEXT = "text/plain; version=0.0.4"
GAUGE_REFRESH_SECONDS = 5.0
TABLE_KEYS_REFRESH_SECONDS = 30.0
#: Keys counted between two turns of the event loop.
COUNT_CHUNK = 10_000


async def count_keys(table: Any, chunk: int = COUNT_CHUNK) -> int | None:
    """Keys of ``table`` in this worker's active partitions, without holding the loop;
    None if a rebalance opened or closed a partition's store during the walk.

    faust's ``len()`` of a RocksDB table walks every key in one go, about a second per
    million keys: the whole worker stalled for that long.  This walk yields to the event
    loop after every ``chunk`` keys.  RocksDB's own key estimate is O(1) but counts every
    overwrite until a compaction, so it can be off by the number of updates.
    """
    store = table.data
    if isinstance(store, MemoryStore):  # a dict: O(1), and it must not change under a walk
        return len(store)
    count = 0
    try:
        for count, _ in enumerate(store.keys(), start=1):
            if count % chunk == 0:
                await asyncio.sleep(0)
    except RuntimeError:  # faust's dict of partition stores changed size under the walk
        return None
    return count


def waiting_for(app: Any) -> list[str]:
    """What readiness still waits for (nothing: ready): partitions assigned, no rebalance,
    every table recovered from its changelog, a broker connected."""
    recovery = app.tables.recovery
    conditions = (
        ("partition assignment", bool(app.consumer.assignment())),
        ("the end of a rebalance", not app.rebalancing),
        ("table recovery", not recovery.in_recovery and recovery.completed.is_set()),
        ("a broker connection", broker_connected(app)),
    )
    return [name for name, met in conditions if not met]


def is_ready(app: Any) -> bool:
    return not waiting_for(app)


def readiness(app: Any) -> tuple[dict[str, Any], int]:
    """``/readyz``'s body and status."""
    waiting = waiting_for(app)
    return {"ready": not waiting, "waiting_for": waiting}, 503 if waiting else 200


def broker_connected(app: Any) -> bool:
    """Whether the consumer holds an open connection to a broker.

    Its fetches keep one open while a broker answers (one returns at least every
    ``fetch_max_wait_ms``); in an outage every connection closes and each reconnect is
    refused: without this check a worker reported ready through a whole broker outage.
    The consumer lives in faust's consumer thread; before it has started there is
    nothing to tell, and the other conditions decide.
    """
    consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
    connections = getattr(getattr(consumer, "_client", None), "_conns", None)
    if connections is None:
        return True
    return any(connection.connected() for connection in list(connections.values()))


def register(pipeline: Pipeline) -> None:
    app, metrics = pipeline.app, pipeline.metrics
    metrics.worker_up.set(1)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        body = generate_latest(metrics.registry)
        return web.bytes(body, headers={"Content-Type": PROMETHEUS_TEXT})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        body, status = readiness(app)
        return web.json(body, status=status)

    counted_at = [-math.inf]

    @app.timer(GAUGE_REFRESH_SECONDS)  # type: ignore[untyped-decorator]  # faust leaves it untyped
    async def refresh_gauges() -> None:
        metrics.worker_ready.set(1 if is_ready(app) else 0)
        # faust's monitor already tracks, on the event loop, the last offset read and the
        # highwater of each partition.  Asking the consumer thread for every partition's
        # position instead stalled a live stream for seconds, every time this ran.  The
        # monitor keeps partitions that moved away; only assigned ones are reported.
        monitor = app.monitor
        for tp in app.consumer.assignment():
            highwater = monitor.tp_end_offsets.get(tp)
            read = monitor.tp_read_offsets.get(tp)
            # Under exactly-once the highwater is unknown until a fetch has returned.
            if read is not None and highwater is not None:
                lag = max(0, highwater - read - 1)
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

        # Table sizes at the first refresh, then every TABLE_KEYS_REFRESH_SECONDS.
        now = time.monotonic()
        if now - counted_at[0] >= TABLE_KEYS_REFRESH_SECONDS:
            counted_at[0] = now
            for name, table in (("customers", pipeline.customers), ("entities", pipeline.entities)):
                keys = await count_keys(table)
                if keys is not None:  # else the next refresh counts again
                    metrics.table_keys.labels(name).set(keys)
                else:
                    counted_at[0] = -math.inf
