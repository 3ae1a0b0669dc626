"""Create the topics cxpulse reads and writes, before any worker subscribes.

Kafka 4 brokers do not auto-create a topic for a consumer's metadata request, and faust only
declares its own internal topics, so source topics must exist before a worker joins its
group.  Creation is idempotent: existing topics are left as they are.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from cxpulse.config.kafka_security import (
    KafkaAccessError,
    aiokafka_security_kwargs,
    check_broker_access,
)
from cxpulse.config.settings import Settings

#: Dead letters carry the original payload base64-encoded next to the error, so they may be
#: about a third larger than the largest accepted input message.
DEAD_LETTER_MAX_BYTES = 8 * 1024 * 1024

#: For topics whose records must stay until they are read, whatever the broker's size
#: limit (``log.retention.bytes``); time retention stays the broker's.  The internal topics
#: are such: while the entity scorer was behind, a 256 MiB limit dropped unread summaries
#: (their scores were lost) and faust's offset reset crashed the worker.  Keep the broker's
#: time retention above the longest outage.
NO_SIZE_LIMIT = {"retention.bytes": "-1"}


class BrokerUnavailable(RuntimeError):
    """Kafka could not be reached at the configured bootstrap servers."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    plain: dict[str, str] = {}
    names = [
        settings.input_topic,
        settings.alerts_topic,
        *([settings.notices_topic] if settings.notices_topic != settings.alerts_topic else []),
        settings.scores_topic,
        settings.insights_topic,
        *(settings.raw_topic(source) for source in settings.enabled_adapters()),
    ]
    specs = [TopicSpec(name, plain) for name in names]
    specs += [
        TopicSpec(name, NO_SIZE_LIMIT) for name in (settings.events_topic, settings.summaries_topic)
    ]
    specs.append(
        TopicSpec(settings.dead_letter_topic, {"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)})
    )
    return specs


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics; returns the names created.  Raises ``BrokerUnavailable``."""
    try:
        await check_broker_access(settings, min(timeout_s, 15.0))
    except KafkaAccessError as exc:
        raise BrokerUnavailable(str(exc)) from exc
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        **aiokafka_security_kwargs(settings),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (TimeoutError, KafkaConnectionError, OSError) as exc:
        await admin.close()
        raise BrokerUnavailable(
            f"cannot reach Kafka at {settings.kafka_bootstrap} (CXPULSE_KAFKA_BOOTSTRAP): {exc}"
        ) from exc
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=settings.partitions,
                        replication_factor=settings.replication_factor,
                        topic_configs=spec.config,
                    )
                    for spec in missing
                ]
            )
        await _wait_visible(admin, {spec.name for spec in missing}, timeout_s)
        return [spec.name for spec in missing]
    except KafkaError as exc:
        raise BrokerUnavailable(f"Kafka refused to create topics: {exc}") from exc
    finally:
        await admin.close()


async def _wait_visible(admin: AIOKafkaAdminClient, names: set[str], timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while names - set(await admin.list_topics()):
        if loop.time() > deadline:
            raise BrokerUnavailable(f"topics {sorted(names)} did not appear within {timeout_s}s")
        await asyncio.sleep(0.1)
