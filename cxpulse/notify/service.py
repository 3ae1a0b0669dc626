"""`cxpulse notify`: hand the alerts topic to Prometheus Alertmanager (``POST /api/v2/alerts``).

Its own process with its own consumer group, not an agent in the worker: a slow or absent
Alertmanager then holds back nothing but the notifications (the worker's transactions,
state and scores never wait on an HTTP call), it scales and restarts apart from the
scoring, and only it needs the Alertmanager address and credentials.

Delivery is at least once.  The consumer reads ``read_committed`` (never an alert of an
aborted transaction) and commits a partition's offsets only after Alertmanager accepted
its records (2xx); while none of the configured Alertmanagers accepts, it retries with
backoff and ``/readyz`` answers 503.  A record Alertmanager refuses as invalid (4xx but
401, 403, 408 and 429, which are retried) goes to the dead-letter topic with stage
``notify``, as does a record that is no ``Alert``; either way the stream goes on.
Repeats are harmless: Alertmanager identifies an alert by its labels.

Firing alerts are held in memory and re-sent every ``CXPULSE_NOTIFY_RESEND_INTERVAL_S``
until resolved or ``CXPULSE_NOTIFY_FIRING_EXPIRY_HOURS`` without an update, as
Alertmanager expects of a client.  On start (and on every partition assignment) the held
alerts are rebuilt by reading the partition again from the expiry horizon up to the
committed offset, without posting those records a second time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import signal
import ssl
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import KafkaConnectionError, KafkaError
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError

from cxpulse.config.kafka_security import (
    KafkaAccessError,
    aiokafka_security_kwargs,
    check_broker_access,
)
from cxpulse.config.settings import Settings
from cxpulse.edge.decode import MessageOrigin, Rejection, dead_letter
from cxpulse.metrics import NotifyMetrics
from cxpulse.notify.payload import AlertmanagerAlert, FiringAlerts, Post
from cxpulse.schemas.outputs import Alert

log = logging.getLogger("cxpulse.notify")

STAGE = "notify"
API_PATH = "/api/v2/alerts"
PROMETHEUS_TEXT = "text/plain; version=0.0.4"
#: Alerts per request to Alertmanager.
CHUNK = 200
#: Records taken from the consumer at once.
MAX_RECORDS = 500
FIRST_RETRY_S = 0.5
METADATA_MAX_AGE_MS = 10_000
#: 4xx answers that say nothing about the alert: retried, never dead-lettered.
RETRIED_4XX = {401: "unauthorised", 403: "unauthorised", 408: "unreachable", 429: "throttled"}
MAX_BODY_CHARS = 500


class Stopping(Exception):
    """The process was asked to stop while it waited to retry."""


@dataclass
class Answer:
    """What one Alertmanager answered to one request."""

    url: str
    status: int | None  # None: no answer (connection refused, DNS, TLS, timeout)
    text: str = ""

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """The alerts themselves are at fault: sending them again cannot help."""
        return (
            self.status is not None and 400 <= self.status < 500 and self.status not in RETRIED_4XX
        )

    @property
    def failure(self) -> str:
        if self.status is None:
            return "unreachable"
        if self.status in RETRIED_4XX:
            return RETRIED_4XX[self.status]
        return "refused" if self.refused else "server_error"


@dataclass
class Outcome:
    """Delivered if one Alertmanager accepted; refused if none did and one refused."""

    answers: list[Answer]

    @property
    def delivered(self) -> bool:
        return any(answer.accepted for answer in self.answers)

    @property
    def refused(self) -> bool:
        return not self.delivered and any(answer.refused for answer in self.answers)

    def explain(self) -> str:
        return "; ".join(
            f"{a.url} answered {a.status}: {a.text[:MAX_BODY_CHARS]}".rstrip(": ")
            if a.status is not None
            else f"{a.url}: {a.text}"
            for a in self.answers
        )


def auth_headers(settings: Settings) -> dict[str, str]:
    """A bearer token or basic auth (the settings refuse both at once), or nothing."""
    token = settings.alertmanager_bearer_token
    if token is not None:
        return {"Authorization": f"Bearer {token.get_secret_value()}"}
    password = settings.alertmanager_password
    if settings.alertmanager_username and password is not None:
        login = f"{settings.alertmanager_username}:{password.get_secret_value()}"
        return {"Authorization": "Basic " + base64.b64encode(login.encode()).decode()}
    return {}


class Alertmanagers:
    """Posts alerts to every configured Alertmanager (an HA pair does not share alerts)."""

    def __init__(self, settings: Settings, metrics: NotifyMetrics) -> None:
        self.urls = settings.alertmanager_urls()
        self.settings = settings
        self.metrics = metrics
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        cafile = self.settings.alertmanager_ca_file
        context = ssl.create_default_context(cafile=cafile) if cafile else None
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context if context is not None else True),
            timeout=aiohttp.ClientTimeout(total=self.settings.alertmanager_timeout_s),
            headers=auth_headers(self.settings),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, alerts: Sequence[AlertmanagerAlert]) -> Outcome:
        answers = await asyncio.gather(*(self._post_one(url, alerts) for url in self.urls))
        for answer in answers:
            if not answer.accepted:
                self.metrics.failed.labels(answer.url, answer.failure).inc()
        return Outcome(list(answers))

    async def probe(self) -> bool:
        """Whether one Alertmanager answers its readiness endpoint (``/-/ready``)."""
        assert self._session is not None, "start() first"
        for url in self.urls:
            try:
                async with self._session.get(url + "/-/ready") as response:
                    if response.status == 200:
                        return True
            except (aiohttp.ClientError, TimeoutError, OSError):
                continue
        return False

    async def _post_one(self, url: str, alerts: Sequence[AlertmanagerAlert]) -> Answer:
        assert self._session is not None, "start() first"
        try:
            async with self._session.post(url + API_PATH, json=list(alerts)) as response:
                return Answer(url, response.status, (await response.text()).strip())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Answer(url, None, f"{type(exc).__name__}: {exc}".rstrip(": "))


@dataclass
class Pending:
    """One record of the alerts topic on its way to Alertmanager."""

    record: Any
    alert: Alert | None = None
    payloads: list[Post] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    rejection: Rejection | None = None


class Notifier:
    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = NotifyMetrics(self.registry, settings.alertmanager_urls())
        self.alertmanagers = Alertmanagers(settings, self.metrics)
        self.firing = FiringAlerts(settings.grafana_url, settings.notify_resend_interval_s)
        self.expiry_ms = int(settings.notify_firing_expiry_hours * 3600 * 1000)
        self.stopping = asyncio.Event()
        self.resend_now = asyncio.Event()
        self.retrying = False
        #: Per partition: records below this offset were delivered before; read again only
        #: to rebuild the firing alerts.
        self.replay_until: dict[Any, int] = {}
        #: Per partition: the first record fetched but not yet delivered and committed.
        self.undelivered: dict[Any, int] = {}
        self.consumer: Any = None
        self.producer: Any = None

    # --- readiness -------------------------------------------------------------------
    def waiting_for(self) -> list[str]:
        assigned = self.consumer is not None and bool(self.consumer.assignment())
        conditions = (
            ("partition assignment", assigned),
            ("an Alertmanager that accepts alerts", not self.retrying),
        )
        return [name for name, met in conditions if not met]

    def _set_retrying(self, retrying: bool) -> None:
        self.retrying = retrying
        self.metrics.retrying.set(1 if retrying else 0)
        self.metrics.ready.set(0 if self.waiting_for() else 1)

    # --- delivery --------------------------------------------------------------------
    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        if self.stopping.is_set():
            raise Stopping

    async def deliver(self, alerts: list[Post]) -> list[str | None]:
        """Post until Alertmanager answers; per alert, None (accepted) or why it was refused.

        Retries with backoff while no Alertmanager accepts.  A refused request is split
        into single alerts to find the ones at fault (Alertmanager refuses a whole request
        for one invalid alert, after storing the valid ones: sending those again is safe).
        """
        results: list[str | None] = []
        for start in range(0, len(alerts), CHUNK):
            results.extend(await self._deliver_chunk(alerts[start : start + CHUNK]))
        return results

    async def _deliver_chunk(self, alerts: list[Post]) -> list[str | None]:
        backoff = FIRST_RETRY_S
        while True:
            now = datetime.now(UTC)
            outcome = await self.alertmanagers.post([alert.render(now) for alert in alerts])
            if outcome.delivered:
                if self.retrying:
                    log.info("Alertmanager accepts alerts again")
                self._set_retrying(False)
                return [None] * len(alerts)
            if outcome.refused:
                if len(alerts) == 1:
                    return [outcome.explain()]
                results: list[str | None] = []
                for alert in alerts:
                    results.extend(await self._deliver_chunk([alert]))
                return results
            if not self.retrying:
                log.warning(
                    "no Alertmanager accepted %d alert(s): %s", len(alerts), outcome.explain()
                )
            self._set_retrying(True)
            await self._update_lag()
            await self._pause(backoff)
            backoff = min(backoff * 2, self.settings.notify_retry_max_s)

    async def handle(self, tp: Any, records: list[Any]) -> None:
        """Deliver one partition's batch, then commit past it."""
        now = datetime.now(UTC)
        oldest_ms = int(now.timestamp() * 1000) - self.expiry_ms
        pending: list[Pending] = []
        new_records = 0
        for record in records:
            until = self.replay_until.get(tp)
            if until is not None:
                if record.offset < until:
                    self._rebuild(record, oldest_ms, now)
                    continue
                self._rebuilt(tp)
            new_records += 1
            if record.timestamp is not None and record.timestamp < oldest_ms:
                self.metrics.expired.inc()
                continue
            pending.append(self._decode(record, now))
        until = self.replay_until.get(tp)
        if until is not None and records[-1].offset + 1 >= until:
            self._rebuilt(tp)
        if not new_records:  # all read again to rebuild: delivered and committed before
            return
        payloads = [payload for item in pending for payload in item.payloads]
        results = iter(await self.deliver(payloads))
        for item in pending:
            item.refusals = [r for r in (next(results) for _ in item.payloads) if r is not None]
        await self._finish(pending)
        try:
            await self.consumer.commit({tp: records[-1].offset + 1})
        except KafkaError as exc:
            log.warning("commit of %s failed (%s): its records will be sent again", tp, exc)

    def _rebuilt(self, tp: Any) -> None:
        del self.replay_until[tp]
        self.resend_now.set()  # re-send what the rebuild found firing, now

    def _rebuild(self, record: Any, oldest_ms: int, now: datetime) -> None:
        if record.timestamp is not None and record.timestamp < oldest_ms:
            return
        with contextlib.suppress(ValidationError):
            alert = Alert.model_validate_json(record.value or b"")
            self.firing.apply(alert, record.timestamp or 0, record.partition, now)

    def _decode(self, record: Any, now: datetime) -> Pending:
        try:
            alert = Alert.model_validate_json(record.value or b"")
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            details = tuple(
                f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}"
                for e in errors[:10]
            )
            return Pending(
                record,
                rejection=Rejection(
                    "invalid_alert",
                    f"not an alert: {len(errors)} problem(s): {details[0]}",
                    details,
                ),
            )
        seen_ms = record.timestamp if record.timestamp is not None else int(now.timestamp() * 1000)
        return Pending(record, alert, self.firing.apply(alert, seen_ms, record.partition, now))

    async def _finish(self, pending: list[Pending]) -> None:
        """Count what was sent; dead-letter what was refused (acknowledged before commit)."""
        sends = []
        for item in pending:
            rejection = item.rejection
            if rejection is None and item.refusals:
                assert item.alert is not None
                self.firing.forget(item.alert)
                rejection = Rejection(
                    "refused", "Alertmanager refused the alert", tuple(item.refusals)
                )
            if rejection is not None:
                sends.append(self._dead_letter(item.record, rejection))
                self.metrics.dead_letters.labels(rejection.reason).inc()
            else:
                assert item.alert is not None
                self.metrics.sent.labels(item.alert.status.value).inc()
        if sends:
            for future in await asyncio.gather(*sends):
                await future
        self.metrics.firing.set(len(self.firing))

    async def _dead_letter(self, record: Any, rejection: Rejection) -> Any:
        log.warning(
            "dead-lettered %s[%d]@%d: %s %s",
            record.topic,
            record.partition,
            record.offset,
            rejection.message,
            "; ".join(rejection.details),
        )
        origin = MessageOrigin(
            record.topic, record.partition, record.offset, record.key, record.timestamp
        )
        letter = dead_letter(record.value, rejection, origin, STAGE, datetime.now(UTC))
        return await self.producer.send(
            self.settings.dead_letter_topic, key=record.key, value=letter.to_json()
        )

    # --- re-sending ------------------------------------------------------------------
    async def resend_loop(self) -> None:
        """Every re-send interval: post the firing alerts again (or, with none, ask whether
        an Alertmanager is ready), so that ``/readyz`` also tells an outage while idle."""
        interval = self.settings.notify_resend_interval_s
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.resend_now.wait(), interval)
            self.resend_now.clear()
            if self.stopping.is_set():
                return
            now = datetime.now(UTC)
            self.firing.expire(int(now.timestamp() * 1000) - self.expiry_ms)
            self.metrics.firing.set(len(self.firing))
            alerts = [post.render(now) for post in self.firing.resend()]
            if not alerts:
                self._set_retrying(not await self.alertmanagers.probe())
                continue
            for start in range(0, len(alerts), CHUNK):
                chunk = alerts[start : start + CHUNK]
                delivered = (await self.alertmanagers.post(chunk)).delivered
                self._set_retrying(not delivered)
                if not delivered:
                    break
                self.metrics.resent.inc(len(chunk))

    # --- the consumer ----------------------------------------------------------------
    async def rebuild_from(self, assigned: set[Any]) -> None:
        """Read each assigned partition again from the expiry horizon to its committed
        offset, to know which alerts still fire (records before it were delivered)."""
        if not assigned:
            return
        since_ms = int(time.time() * 1000) - self.expiry_ms
        starts = await self.consumer.offsets_for_times(dict.fromkeys(assigned, since_ms))
        for tp in assigned:
            committed = await self.consumer.committed(tp)
            found = starts.get(tp)
            if committed is None or found is None or found.offset >= committed:
                continue
            self.consumer.seek(tp, found.offset)
            self.replay_until[tp] = committed
            log.info("rebuilding firing alerts from %s offsets %d..%d", tp, found.offset, committed)

    async def _update_lag(self) -> None:
        if self.consumer is None:
            return
        lag = 0
        for tp in list(self.consumer.assignment()):
            end = self.consumer.last_stable_offset(tp) or self.consumer.highwater(tp)
            try:
                position = await self.consumer.position(tp)
            except KafkaError:
                continue
            start = min(position, self.undelivered.get(tp, position))
            if end is not None:
                lag += max(0, end - max(start, self.replay_until.get(tp, 0)))
        self.metrics.lag.set(lag)
        self.metrics.ready.set(0 if self.waiting_for() else 1)

    async def consume(self) -> None:
        while not self.stopping.is_set():
            batch = await self.consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
            self.undelivered = {tp: records[0].offset for tp, records in batch.items() if records}
            for tp, records in batch.items():
                if records:
                    await self.handle(tp, records)
                    self.undelivered.pop(tp, None)
            await self._update_lag()

    async def run(self) -> int:
        settings = self.settings
        await check_broker_access(settings)
        security = aiokafka_security_kwargs(settings)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=f"{settings.app_id}-notify",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",  # never an alert of an aborted transaction
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            # An alerts topic created after the start is found within this time.
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            **security,
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            **security,
        )
        web_runner = await serve(self, settings.notify_web_host, settings.notify_web_port)
        await self.alertmanagers.start()
        await self.producer.start()
        await self.consumer.start()
        self.consumer.subscribe([settings.alerts_topic], listener=_Rebalance(self))
        resender = asyncio.create_task(self.resend_loop())
        log.info("forwarding %s to %s", settings.alerts_topic, ", ".join(self.alertmanagers.urls))
        try:
            await self.consume()
        except Stopping:
            pass
        finally:
            self.stopping.set()
            self.resend_now.set()
            await resender
            await self.consumer.stop()
            await self.producer.stop()
            await self.alertmanagers.close()
            await web_runner.cleanup()
        return 0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        self.notifier.firing.drop_partitions({tp.partition for tp in revoked})
        for tp in revoked:
            self.notifier.replay_until.pop(tp, None)

    async def on_partitions_assigned(self, assigned: set[Any]) -> None:
        await self.notifier.rebuild_from(assigned)


async def serve(notifier: Notifier, host: str, port: int) -> web.AppRunner:
    """``/metrics``, ``/healthz`` and ``/readyz`` of the notify process."""

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(notifier.registry), headers={"Content-Type": PROMETHEUS_TEXT}
        )

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        waiting = notifier.waiting_for()
        return web.json_response(
            {"ready": not waiting, "waiting_for": waiting}, status=503 if waiting else 200
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No flags of its own: everything is a setting (CXPULSE_ALERTMANAGER_*, …)."""


async def _main(settings: Settings) -> int:
    notifier = Notifier(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, notifier.stopping.set)
    return await notifier.run()


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper().replace("WARN", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(_main(settings))
    except (KafkaAccessError, KafkaConnectionError, OSError) as exc:
        print(f"cxpulse notify: {exc}", file=sys.stderr)
        return 2
