"""`cxpulse gateway`: the HTTP API as a process of its own.

Stateless apart from the read-only view of the scores and alerts topics, so any number of
gateways can run side by side behind a load balancer, and none of them holds a worker's
transactions or tables: a slow client or a flood of requests never slows the scoring.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl

from aiohttp import web

from cxpulse.api.lookup import ScoreView
from cxpulse.api.server import Gateway
from cxpulse.api.sink import KafkaSink
from cxpulse.config.settings import Settings
from cxpulse.config.topics import BrokerUnavailable, ensure_topics

log = logging.getLogger("cxpulse.gateway")

RETRY_S = 2.0


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.api_tls_certfile is None or settings.api_tls_keyfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.api_tls_certfile, settings.api_tls_keyfile)
    return context


async def prepare(settings: Settings, sink: KafkaSink, view: ScoreView | None) -> None:
    """Create the topics that are missing, as the worker does, then connect.

    Before this, a client of the gateway's could make the broker auto-create a topic with
    the broker's partition count instead of ``CXPULSE_PARTITIONS`` (aiokafka asks for
    auto-creation in its metadata requests), and the partition count of the events path
    must match it.  Until it is done, ingest and lookups answer 503.
    """
    while True:
        try:
            created = await ensure_topics(settings)
        except BrokerUnavailable as exc:
            log.warning("%s; trying again in %.0f s", exc, RETRY_S)
            await asyncio.sleep(RETRY_S)
            continue
        if created:
            log.info("created topics: %s", ", ".join(created))
        break
    sink.start()
    if view is not None:
        view.start()


async def serve(settings: Settings, stopping: asyncio.Event) -> int:
    sink = KafkaSink(settings)
    view = ScoreView(settings) if settings.api_lookup else None
    preparing = asyncio.get_running_loop().create_task(prepare(settings, sink, view))
    runner = web.AppRunner(Gateway(settings, sink, view).app(), access_log=None)
    await runner.setup()
    context = tls_context(settings)
    await web.TCPSite(runner, settings.api_host, settings.api_port, ssl_context=context).start()
    scheme = "https" if context else "http"
    log.info("cxpulse gateway on %s://%s:%d", scheme, settings.api_host, settings.api_port)
    print(
        f"cxpulse gateway: serving {scheme}://{settings.api_host}:{settings.api_port}", flush=True
    )
    try:
        await stopping.wait()
    finally:
        await runner.cleanup()
        preparing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await preparing
        if view is not None:
            await view.stop()
        await sink.stop()
    return 0


async def _main(settings: Settings) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    return await serve(settings, stopping)


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper().replace("WARN", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        tls_context(settings)
    except (ssl.SSLError, OSError) as exc:
        print(f"cxpulse gateway: cannot load the TLS certificate or key: {exc}", flush=True)
        return 2
    return asyncio.run(_main(settings))
