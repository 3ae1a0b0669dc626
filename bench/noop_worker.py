"""``python -m bench.noop_worker``: the engine's own ceiling, a worker whose agent does nothing.

It is configured like ``cxpulse worker``: the same ``CXPULSE_*`` settings, the same event
loop, the same ``faust.App`` keyword arguments (``app_kwargs``, which ``build_pipeline``
uses, so they cannot drift) and the same input path (``input_path``: slices of each
partition's fetch, or faust's ``take_events(batch_size, within)``), but always
at-least-once (see ``main``).  Only the work per batch is missing.  ``/bench``
reports how many events the agent has seen and the wall-clock times of the first and the
last batch; ``/readyz`` is cxpulse's readiness.
"""

from __future__ import annotations

import time
from typing import Any

import faust

from cxpulse.config.settings import Settings
from cxpulse.engine.readiness import readiness
from cxpulse.engine.transactions import TransactionalApp
from cxpulse.worker.app import app_kwargs
from cxpulse.worker.run import use_event_loop


def build_noop_app(settings: Settings) -> faust.App:
    app = TransactionalApp(settings.app_id, **app_kwargs(settings))
    topic = app.topic(settings.input_topic, key_serializer="raw", value_serializer="raw")
    seen: dict[str, float | None] = {"count": 0, "first": None, "last": None}
    within = settings.batch_within_ms / 1000

    def saw(batch: list[Any]) -> None:
        now = time.time()
        if seen["first"] is None:
            seen["first"] = now
        seen["last"] = now
        seen["count"] = (seen["count"] or 0) + len(batch)

    if settings.input_path == "batch":

        async def handle(batch: list[Any]) -> None:
            saw(batch)

        app.read_in_batches(topic, handle, lambda seconds: None)
    else:

        @app.agent(topic, name="bench.noop")
        async def noop(stream: Any) -> None:
            async for batch in stream.take_events(settings.batch_size, within=within):
                saw(batch)

    @app.page("/bench")
    async def bench_page(web: Any, request: Any) -> Any:
        return web.json(seen)

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        body, status = readiness(app)
        return web.json(body, status=status)

    return app


def main() -> None:
    # faust's exactly-once start-up fails for an app whose only topic is its input
    # (KeyError in the assignor's group_for_topic at the first assignment), so the ceiling
    # is measured at-least-once; cxpulse is measured with either (docs/performance.md).
    settings = Settings().model_copy(update={"processing_guarantee": "at_least_once"})
    use_event_loop(settings.event_loop)
    app = build_noop_app(settings)
    faust.Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
