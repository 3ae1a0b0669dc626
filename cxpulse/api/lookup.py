"""The lookups' view: the scores and alerts topics, read into memory by each gateway.

Why not the worker's tables: the scores topic already holds every entity's latest state as
the scoring published it, exactly once under read_committed.  Reading it makes a gateway
stateless (it rebuilds its view from Kafka at start, any number can run, none has to
route a request to the worker owning a partition or survive a rebalance), and it answers
what any other consumer of the scores topic sees.  The cost: memory for the latest
snapshot of every entity the topic still holds, and answers as fresh as the topic (the
worker's commit interval, 100 ms by default, plus the fetch wait).

Until it has read up to the end offsets the topics had when it started, the view says it
is catching up and the lookups answer 503 with Retry-After: a half-read topic would give
stale scores without saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from cxpulse.config.kafka_security import aiokafka_security_kwargs
from cxpulse.config.settings import Settings

log = logging.getLogger("cxpulse.gateway")

RETRY_S = 2.0
METADATA_MAX_AGE_MS = 5_000
#: Records decoded between two turns of the event loop: a flood of snapshots (a worker
#: catching up) must not hold the lookups answered meanwhile (5,000 at once raised their
#: p99 to 145 ms under 1,000 events/s).
RECORDS_PER_TURN = 200
EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class Materialised:
    """Latest snapshot per entity; latest record per alert group key.  Pure, no I/O."""

    firing_expiry: timedelta = timedelta(hours=24)
    snapshots: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: group keys per entity, for the alerts that name it.
    named: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    #: the latest event time of any alert: expiry is by event time, as the scoring's.
    newest: datetime = EARLIEST

    def add_snapshot(self, record: dict[str, Any]) -> None:
        try:
            key = (str(record["entity_type"]), str(record["entity_id"]))
            as_of = str(record["as_of"])
        except (KeyError, TypeError):
            return
        held = self.snapshots.get(key)
        if held is None or _instant(as_of) >= _instant(str(held["as_of"])):
            self.snapshots[key] = record

    def add_alert(self, record: dict[str, Any]) -> None:
        try:
            entity = (str(record["entity_type"]), str(record["entity_id"]))
            group = str(record.get("group_key") or record["alert_id"])
            occurred = str(record["occurred_at"])
        except (KeyError, TypeError):
            return
        self.newest = max(self.newest, _instant(occurred))
        held = self.conditions.get(group)
        if held is None or _instant(occurred) >= _instant(str(held["occurred_at"])):
            self.conditions[group] = record
        self.named.setdefault(entity, set()).add(group)

    def entity(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        snapshot = self.snapshots.get((entity_type, entity_id))
        if snapshot is None:
            return None
        groups = self.named.get((entity_type, entity_id), set())
        alerts = [self.conditions[group] for group in sorted(groups)]
        return {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "snapshot": snapshot,
            "alerts": _newest_first([a for a in alerts if self._firing(a)]),
        }

    def rules(self) -> list[dict[str, Any]]:
        """Every rule's latest snapshot and firing alerts, the most friction first (seed 004:
        the rules to review with customers first)."""
        ranked = sorted(
            (entity_id for entity_type, entity_id in self.snapshots if entity_type == "rule"),
            key=lambda rule: (-_friction(self.snapshots["rule", rule]), rule),
        )
        return [found for rule in ranked if (found := self.entity("rule", rule)) is not None]

    def incidents(self, status: str) -> list[dict[str, Any]]:
        chosen = [
            record
            for record in self.conditions.values()
            if status == "all" or (status == "firing") == self._firing(record)
        ]
        return _newest_first(chosen)

    def _firing(self, record: dict[str, Any]) -> bool:
        """Firing, and updated within the expiry of the newest alert's event time (one-shot
        alerts have no resolved record)."""
        if record.get("status", "firing") != "firing":
            return False
        return self.newest - _instant(str(record["occurred_at"])) <= self.firing_expiry


def _instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return EARLIEST
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _friction(snapshot: dict[str, Any]) -> float:
    scores = snapshot.get("scores")
    value = scores.get("friction") if isinstance(scores, dict) else None
    return float(value) if isinstance(value, int | float) else 0.0


def _newest_first(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: _instant(str(r["occurred_at"])), reverse=True)


class ScoreView:
    """``Materialised`` kept up to date from Kafka by one consumer without a group."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = Materialised(
            firing_expiry=timedelta(hours=settings.notify_firing_expiry_hours)
        )
        self.targets: dict[TopicPartition, int] | None = None
        self.caught_up = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def waiting(self) -> str | None:
        if self.caught_up:
            return None
        return (
            f"still reading {self.settings.scores_topic} and {self.settings.alerts_topic} up "
            "to their end; try again shortly"
        )

    def entity(self, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        return self.state.entity(entity_type, entity_id)

    def incidents(self, status: str) -> list[dict[str, Any]]:
        return self.state.incidents(status)

    def rules(self) -> list[dict[str, Any]]:
        return self.state.rules()

    def size(self) -> int:
        return len(self.state.snapshots)

    async def _run_forever(self) -> None:
        while True:
            try:
                await self._run()
            except (KafkaError, OSError) as exc:
                log.warning("lookup view: %s; reading again in %.0f s", exc, RETRY_S)
                await asyncio.sleep(RETRY_S)
            except Exception:  # a view that stopped reading would answer stale for ever
                log.exception("lookup view failed; reading again in %.0f s", RETRY_S)
                await asyncio.sleep(RETRY_S)

    async def _run(self) -> None:
        settings = self.settings
        topics = (settings.scores_topic, settings.alerts_topic)
        # Without a group, a subscription is every partition of the topics; a topic made
        # after the start is found at the next metadata refresh.
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            **aiokafka_security_kwargs(settings),
        )
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=RECORDS_PER_TURN)
                for tp, records in batch.items():
                    add = (
                        self.state.add_snapshot
                        if tp.topic == settings.scores_topic
                        else self.state.add_alert
                    )
                    for record in records:
                        with contextlib.suppress(orjson.JSONDecodeError, TypeError):
                            value = orjson.loads(record.value or b"")
                            if isinstance(value, dict):
                                add(value)
                await asyncio.sleep(0)
                if not self.caught_up and await self._reached(consumer, topics):
                    self.caught_up = True
                    log.info("lookup view caught up with %d entities", len(self.state.snapshots))
        finally:
            await consumer.stop()

    async def _reached(self, consumer: AIOKafkaConsumer, topics: tuple[str, ...]) -> bool:
        """Whether every partition is read up to the end offset it had when first seen."""
        assigned = consumer.assignment()
        if {tp.topic for tp in assigned} != set(topics):
            return False
        if self.targets is None or set(self.targets) != assigned:
            self.targets = {**(await consumer.end_offsets(list(assigned))), **(self.targets or {})}
        for tp, end in self.targets.items():
            if await consumer.position(tp) < end:
                return False
        return True
