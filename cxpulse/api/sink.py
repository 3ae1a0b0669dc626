"""Kafka as the API's sink: every record of a request acknowledged by all in-sync replicas,
or the request fails as a whole.

One idempotent producer (``acks=all``) for the process.  A request's records are handed to
it together and the request waits for every acknowledgement, at most
``CXPULSE_API_KAFKA_TIMEOUT_S``; any failure or a timeout raises ``KafkaUnavailable`` and
the caller answers 503, so no record is acknowledged to a client that Kafka did not take.
Records of a failed request that Kafka did take are harmless: the client sends the request
again and the pipeline drops the copies by ``event_id`` (webhook payloads: by the
adapters' deterministic ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from cxpulse.config.kafka_security import aiokafka_security_kwargs
from cxpulse.config.settings import Settings

log = logging.getLogger("cxpulse.gateway")

#: Kafka's record overhead beyond the value, for the producer's request size limit.
RECORD_OVERHEAD = 64 * 1024
RECONNECT_S = 2.0


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge every record in time; the message says why."""


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes


class KafkaSink:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer: AIOKafkaProducer | None = None
        self._starter: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.producer is not None

    def start(self) -> None:
        """Connect in the background, retrying until the broker answers."""
        self._starter = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        timeout_ms = int(self.settings.api_kafka_timeout_s * 1000)
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=timeout_ms,
                max_request_size=self.settings.api_max_body_bytes + RECORD_OVERHEAD,
                linger_ms=1,
                **aiokafka_security_kwargs(self.settings),
            )
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                log.warning("cannot reach Kafka at %s: %s", self.settings.kafka_bootstrap, exc)
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(RECONNECT_S)
                continue
            self.producer = producer
            log.info("connected to Kafka at %s", self.settings.kafka_bootstrap)
            return

    async def stop(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None

    async def send_all(self, records: list[Record]) -> None:
        """Return once Kafka acknowledged every record; else raise ``KafkaUnavailable``."""
        producer = self.producer
        if producer is None:
            raise KafkaUnavailable(f"not connected to Kafka at {self.settings.kafka_bootstrap}")
        try:
            await asyncio.wait_for(self._send(producer, records), self.settings.api_kafka_timeout_s)
        except TimeoutError:
            raise KafkaUnavailable(
                f"Kafka did not acknowledge within {self.settings.api_kafka_timeout_s:g} s"
            ) from None
        except KafkaError as exc:
            raise KafkaUnavailable(f"Kafka refused the records: {exc}") from exc

    @staticmethod
    async def _send(producer: AIOKafkaProducer, records: list[Record]) -> None:
        deliveries = [
            await producer.send(record.topic, record.value, key=record.key) for record in records
        ]
        await asyncio.gather(*deliveries)
