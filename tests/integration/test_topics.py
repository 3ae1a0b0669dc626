"""Topics are created with the configuration their use needs."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bench.kafka_ops import create_topic
from cxpulse.config.settings import Settings
from cxpulse.config.topics import ensure_topics


async def _retention_bytes(bootstrap: str, names: list[str]) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await admin.close()
    found = {}
    for response in responses:
        for resource in response.resources:
            _error, _message, _type, name, entries = resource[:5]
            found[name] = next(entry[1] for entry in entries if entry[0] == "retention.bytes")
    return found


def test_internal_topics_are_never_trimmed_by_size(bootstrap: str) -> None:
    """The development broker caps a partition at 256 MiB; the internal topics must not."""
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap=bootstrap,
        input_topic=f"topics-{run}-in",
        events_topic=f"topics-{run}-events",
        summaries_topic=f"topics-{run}-summaries",
        alerts_topic=f"topics-{run}-alerts",
        scores_topic=f"topics-{run}-scores",
        insights_topic=f"topics-{run}-insights",
        dead_letter_topic=f"topics-{run}-dead",
        adapter_sources="",
    )
    created = asyncio.run(ensure_topics(settings))
    assert settings.events_topic in created

    retention = asyncio.run(
        _retention_bytes(
            bootstrap, [settings.events_topic, settings.summaries_topic, settings.input_topic]
        )
    )
    assert retention[settings.events_topic] == "-1"
    assert retention[settings.summaries_topic] == "-1"
    assert retention[settings.input_topic] == str(256 * 1024 * 1024)  # the broker's own


def test_a_benchmark_input_is_never_trimmed_by_size(bootstrap: str) -> None:
    name = f"topics-{uuid.uuid4().hex[:8]}-bench-input"
    asyncio.run(create_topic(bootstrap, name, partitions=1))

    assert asyncio.run(_retention_bytes(bootstrap, [name])) == {name: "-1"}
