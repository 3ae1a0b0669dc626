"""Step 7, the HTTP API on loopback: a worker, a ``cxpulse gateway`` in front of it, and a
client posting and looking up, each part bounded in count and time.

1. NDJSON ingest: ``ndjson_events`` events in requests of ``ndjson_batch``, one request in
   flight; each answered 202 only once Kafka acknowledged (acks=all) every event in it.
2. One event per request, one in flight, ``single_events`` of them.
3. Lookups at ``lookup_rate`` requests/s for ``lookup_seconds`` while ``ingest_rate``
   events/s are posted to the same gateway (NDJSON, every 100 ms): p50/p99 of the lookups,
   each timed from its scheduled start, so a stalled gateway cannot hide behind a slow client.

The worker scores everything it is sent; lookups ask for customers that were posted.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from bench import steps
from bench.processes import WorkerProcess, free_port
from bench.steps import Context, percentiles
from bench.workload import Workload

API_KEY = "bench-api-key"
INGEST_TICK_S = 0.1
#: Lookups still unanswered this long after the phase ends are counted as failed.
LOOKUP_GRACE_S = 5.0


def gateway_env(worker_env: dict[str, str], port: int) -> dict[str, str]:
    """The gateway of the worker whose environment is ``worker_env``: the same topics."""
    return {
        **worker_env,
        "CXPULSE_API_PORT": str(port),
        "CXPULSE_WEB_PORT": str(port),  # WorkerProcess polls /readyz there
        "CXPULSE_API_KEYS_SHA256": hashlib.sha256(API_KEY.encode()).hexdigest(),
        "CXPULSE_API_RATE_PER_S": "1000000",
        "CXPULSE_API_RATE_BURST": "1000000",
    }


def http_step(
    ctx: Context,
    work: Workload,
    *,
    ndjson_events: int,
    ndjson_batch: int,
    single_events: int,
    lookup_rate: float,
    ingest_rate: float,
    lookup_seconds: float,
) -> dict[str, Any]:
    app_id = f"{ctx.run_id}-h"
    input_topic = f"{app_id}-input"
    worker = steps.worker_process(ctx, "cxpulse.commands.cli", app_id, input_topic)
    port = free_port()
    gateway = WorkerProcess(
        "cxpulse.commands.cli",
        ["gateway"],
        gateway_env(worker.env, port),
        ctx.workdir / app_id / f"gateway-{port}.log",
    )
    bodies = [value for _key, value in work.records]
    live_events = int(ingest_rate * lookup_seconds)
    needed = ndjson_events + single_events + live_events
    if len(bodies) < needed:
        raise ValueError(f"the HTTP step needs {needed:,} events, the workload has {len(bodies):,}")
    try:
        worker.start()
        worker.wait_ready(steps.READY_TIMEOUT_S)
        gateway.start()
        gateway.wait_ready(steps.READY_TIMEOUT_S)
        client = Client(f"http://127.0.0.1:{port}")
        first = bodies[:ndjson_events]
        second = bodies[ndjson_events : ndjson_events + single_events]
        live = bodies[ndjson_events + single_events : needed]
        ndjson = asyncio.run(client.run(client.post_ndjson(first, ndjson_batch)))
        ctx.say(f"http: NDJSON ingest {ndjson:,.0f} events/s")
        single = asyncio.run(client.run(client.post_single(second)))
        ctx.say(f"http: single-event ingest {single:,.0f} events/s")
        steps.wait_committed(
            ctx,
            f"the worker scoring the {ndjson_events + single_events:,} posted events",
            app_id,
            input_topic,
        )
        customers = sorted({orjson.loads(body)["customer_id"] for body in first})
        lookups = asyncio.run(
            client.run(
                client.lookups_while_ingesting(
                    customers, live, lookup_rate, ingest_rate, lookup_seconds
                )
            )
        )
        ctx.say(
            f"http: lookups p50 {lookups['p50_ms']:.1f} ms, p99 {lookups['p99_ms']:.1f} ms "
            f"at {lookups['lookups_per_s']:,.0f}/s while posting {lookups['ingest_per_s']:,.0f}"
            " events/s"
        )
        return {
            "ndjson_events_per_s": ndjson,
            "ndjson_batch": ndjson_batch,
            "single_events_per_s": single,
            "lookup": lookups,
        }
    finally:
        gateway.stop()
        worker.stop()
        steps.drop_topics(ctx, app_id)


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {API_KEY}"}
        self.session: aiohttp.ClientSession | None = None

    async def run(self, work: Any) -> Any:
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector, headers=self.headers) as session:
            self.session = session
            return await work

    async def _post(self, body: bytes, content_type: str) -> None:
        assert self.session is not None
        async with self.session.post(
            f"{self.base}/v1/events", data=body, headers={"Content-Type": content_type}
        ) as response:
            answer = await response.read()
            if response.status != 202:
                raise RuntimeError(f"POST /v1/events answered {response.status}: {answer[:300]!r}")

    async def post_ndjson(self, bodies: Sequence[bytes], batch: int) -> float:
        started = time.perf_counter()
        for start in range(0, len(bodies), batch):
            await self._post(b"\n".join(bodies[start : start + batch]), "application/x-ndjson")
        return len(bodies) / (time.perf_counter() - started)

    async def post_single(self, bodies: Sequence[bytes]) -> float:
        started = time.perf_counter()
        for body in bodies:
            await self._post(body, "application/json")
        return len(bodies) / (time.perf_counter() - started)

    async def lookups_while_ingesting(
        self,
        customers: Sequence[str],
        live: Sequence[bytes],
        lookup_rate: float,
        ingest_rate: float,
        seconds: float,
    ) -> dict[str, Any]:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        ids = itertools.cycle(customers)
        start = time.perf_counter()

        async def lookup(scheduled: float, customer: str) -> None:
            assert self.session is not None
            async with self.session.get(f"{self.base}/v1/customers/{customer}") as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append(time.perf_counter() - scheduled)

        async def look() -> list[asyncio.Task[None]]:
            tasks = []
            for n in range(int(lookup_rate * seconds)):
                scheduled = start + n / lookup_rate
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                tasks.append(asyncio.create_task(lookup(scheduled, next(ids))))
            return tasks

        async def ingest() -> int:
            per_tick = max(1, int(ingest_rate * INGEST_TICK_S))
            sent = 0
            for n, offset in enumerate(range(0, len(live), per_tick)):
                await asyncio.sleep(max(0.0, start + n * INGEST_TICK_S - time.perf_counter()))
                await self._post(
                    b"\n".join(live[offset : offset + per_tick]), "application/x-ndjson"
                )
                sent += len(live[offset : offset + per_tick])
            return sent

        tasks, posted = await asyncio.gather(look(), ingest())
        done, pending = await asyncio.wait(tasks, timeout=LOOKUP_GRACE_S)
        for task in pending:
            task.cancel()
        failed = len(pending) + sum(1 for task in done if task.exception() is not None)
        elapsed = time.perf_counter() - start
        return {
            **percentiles([1000 * s for s in latencies]),
            "lookups": len(latencies),
            "lookups_per_s": len(latencies) / elapsed,
            "statuses": {str(code): count for code, count in sorted(statuses.items())},
            "failed": failed,
            "ingest_per_s": posted / elapsed,
        }
