"""HTTP endpoints beside faust's own: ``/metrics``, ``/healthz``, ``/readyz``.

A timer refreshes the gauges that describe the worker rather than the data: readiness and
consumer lag per partition every 5 s, table sizes at the first refresh and then every 30 s.
"""

from __future__ import annotations

import math
import time
from typing import Any

from prometheus_client import generate_latest

from cxpulse.engine.readiness import is_ready, readiness
from cxpulse.engine.tables import count_keys
from cxpulse.worker.pipeline import Pipeline

PROMETHEUS_TEXT = "text/plain; version=0.0.4"
GAUGE_REFRESH_SECONDS = 5.0
TABLE_KEYS_REFRESH_SECONDS = 30.0


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
