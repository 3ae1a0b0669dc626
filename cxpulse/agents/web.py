"""HTTP endpoints beside faust's own: ``/metrics``, ``/healthz``, ``/readyz``.

A timer refreshes the gauges that describe the worker rather than the data: readiness,
consumer lag per partition and table sizes.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from cxpulse.agents.pipeline import Pipeline

PROMETHEUS_TEXT = "text/plain; version=0.0.4"
GAUGE_REFRESH_SECONDS = 5.0


def is_ready(app: Any) -> bool:
    """Assigned, not rebalancing, and every table recovered from its changelog."""
    recovery = app.tables.recovery
    return bool(
        app.consumer.assignment()
        and not app.rebalancing
        and not recovery.in_recovery
        and recovery.completed.is_set()
    )


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
        ready = is_ready(app)
        return web.json({"ready": ready}, status=200 if ready else 503)

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
        for name, table in (("customers", pipeline.customers), ("entities", pipeline.entities)):
            metrics.table_keys.labels(name).set(len(table))
