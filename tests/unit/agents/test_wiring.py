"""The agents' per-batch functions, without a broker: records in, records out.

Each agent is a thin loop (``engine.batches.run_batches``) around one function of a batch.
Here those functions run in process on stand-ins for the app's producer and tables, chained
as the topics chain them, and must give what ``cxpulse replay`` gives.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from cxpulse.agents.ingest import ingest_batch
from cxpulse.agents.scorer import score_customer_batch, score_entity_batch
from cxpulse.config.settings import Settings
from cxpulse.edge.redact import Redactor
from cxpulse.engine.transactions import CommitGate
from cxpulse.metrics import Metrics
from cxpulse.replay import replay
from cxpulse.schemas.events import parse_event
from cxpulse.simulate import Simulation, SimulationConfig
from cxpulse.worker import bundles
from cxpulse.worker.bundles import BUNDLE_MAX_BYTES
from cxpulse.worker.pipeline import Pipeline

PARTITIONS = 3


@dataclass
class Sent:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None
    headers: dict[str, bytes] | None


@dataclass
class Producer:
    sent: list[Sent] = field(default_factory=list)

    async def send(self, *args: Any, transactional_id: str | None) -> asyncio.Future[None]:
        """The app producer's ``send(topic, key, value, partition, timestamp, headers)``."""
        topic, key, value, partition, _timestamp, headers = args
        assert transactional_id is None  # at-least-once: the app is in no transaction
        self.sent.append(Sent(topic, key, value, partition, headers))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass
class Table:
    """A table of one worker that owns every partition."""

    data: dict[bytes, bytes] = field(default_factory=dict)

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    async def put(self, key: bytes, value: bytes, _record: Any) -> None:
        self.data[key] = value

    async def delivered(self) -> None:
        return None


class Record:
    """A faust event as the agents read it: its message (and a weak reference to it)."""

    def __init__(self, message: SimpleNamespace) -> None:
        self.message = message


class Topic(str):
    def get_topic_name(self) -> str:
        return str(self)


def pipeline_in_process(producer: Producer) -> Pipeline:
    settings = Settings(partitions=PARTITIONS, lexicon_file="builtin")
    app = SimpleNamespace(
        producer=producer, commit_gate=CommitGate(), transactional_id=lambda message: None
    )
    return Pipeline(
        app=app,  # type: ignore[arg-type]  # the parts of the app the batch functions use
        settings=settings,
        scoring=settings.scoring_config(),
        metrics=Metrics(CollectorRegistry()),
        redactor=Redactor.from_settings(settings),
        **{
            f"{name}_topic": Topic(name)
            for name in (
                "input",
                "events",
                "summaries",
                "alerts",
                "notices",
                "scores",
                "insights",
                "dead_letter",
            )
        },
        raw_topics={},
        customers=Table(),
        entities=Table(),
    )


def records(sent: Iterable[Sent], topic: str) -> dict[int, list[Any]]:
    """What the agent of ``topic`` reads, by partition, in the order it was sent."""
    by_partition: defaultdict[int, list[Any]] = defaultdict(list)
    for item in sent:
        if item.topic == topic:
            assert item.partition is not None
            message = SimpleNamespace(
                topic=topic,
                partition=item.partition,
                offset=len(by_partition[item.partition]),
                key=item.key,
                value=item.value,
                timestamp=None,
                headers=item.headers,
            )
            by_partition[item.partition].append(Record(message))
    return by_partition


@pytest.mark.parametrize("bundle_bytes", [BUNDLE_MAX_BYTES, 2_048])
def test_the_batch_functions_chained_in_process_give_the_replay_alerts(
    bundle_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small bundles: a batch's summaries for one partition travel in several records, the
    # way a large catch-up batch's do.
    monkeypatch.setattr(bundles, "BUNDLE_MAX_BYTES", bundle_bytes)
    raw = [orjson.dumps(e) for e in Simulation(SimulationConfig(count=6_000, seed=5)).events()]
    bad = [b"{not json", b'{"type": "interaction.started"}']
    producer = Producer()
    pipeline = pipeline_in_process(producer)

    async def run() -> None:
        inputs = [
            Record(
                SimpleNamespace(
                    topic="input", partition=0, offset=n, key=None, value=v, timestamp=None
                )
            )
            for n, v in enumerate([*raw, *bad])
        ]
        for start in range(0, len(inputs), 500):
            await ingest_batch(pipeline, inputs[start : start + 500])
        for batch in records(producer.sent, "events").values():  # a whole lane at once
            await score_customer_batch(pipeline, batch)
        # one lane read to its end before the next: the order a catch-up may read them in
        for batch in records(producer.sent, "summaries").values():
            await score_entity_batch(pipeline, batch)

    asyncio.run(run())
    published = [(s.topic, orjson.loads(s.value)) for s in producer.sent]
    streamed = [alert for topic, alert in published if topic in {"alerts", "notices"}]
    expected = replay([parse_event(v) for v in raw], pipeline.scoring, with_snapshots=False)
    assert expected.alerts
    assert sorted(a["alert_id"] for a in streamed) == sorted(a.alert_id for a in expected.alerts)
    for topic, alert in published:
        if topic in {"alerts", "notices"}:
            assert (topic == "notices") == (alert["severity"] == "info"), alert["kind"]
    letters = [orjson.loads(s.value) for s in producer.sent if s.topic == "dead_letter"]
    assert sorted(letter["error"]["reason"] for letter in letters) == [
        "invalid_field",
        "invalid_json",
    ]


def test_records_the_state_already_holds_are_skipped_not_scored_again() -> None:
    """A restart that reads from an older committed offset than its restored state (a crash
    between the state's changelog write and the offset commit) sends nothing twice.  With
    few summary ids remembered, deduplication alone would count busy entities' twice."""
    raw = [orjson.dumps(e) for e in Simulation(SimulationConfig(count=2_000, seed=9)).events()]
    producer = Producer()
    pipeline = pipeline_in_process(producer)
    pipeline = replace(pipeline, scoring=replace(pipeline.scoring, dedup_max_ids=4))

    async def run() -> tuple[int, int, dict[bytes, bytes], dict[bytes, bytes]]:
        inputs = [
            Record(SimpleNamespace(topic="input", partition=0, offset=n, key=None, value=v))
            for n, v in enumerate(raw)
        ]
        for record in inputs:
            record.message.timestamp = None
        await ingest_batch(pipeline, inputs)
        lanes = records(producer.sent, "events")
        for batch in lanes.values():
            await score_customer_batch(pipeline, batch)
        summaries = records(producer.sent, "summaries")
        for batch in summaries.values():
            await score_entity_batch(pipeline, batch)
        customers = dict(pipeline.customers.data)
        entities = dict(pipeline.entities.data)
        before = len(producer.sent)
        for batch in lanes.values():  # every record again, from offset 0
            await score_customer_batch(pipeline, batch)
        for batch in summaries.values():
            await score_entity_batch(pipeline, batch)
        return before, len(producer.sent), customers, entities

    before, after, customers, entities = asyncio.run(run())
    assert {s.topic for s in producer.sent[:before]} >= {"events", "summaries", "scores"}
    assert after == before
    assert pipeline.customers.data == customers
    assert pipeline.entities.data == entities
    skipped = pipeline.metrics.already_applied
    assert skipped.labels("scorer")._value.get() > 0
    assert skipped.labels("entity_scorer")._value.get() > 0
