"""PromptRecovery lowers faust's offset to wait for to the changelog's last record, and
leaves faust's own wait when the probe fails.  The probe itself runs against the broker in
tests/integration/test_recovery_probe.py."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from faust.types import TP
from prometheus_client import CollectorRegistry

from cxpulse.config.settings import Settings
from cxpulse.engine import recovery
from cxpulse.engine.recovery import PromptRecovery
from cxpulse.metrics import Metrics
from cxpulse.worker.app import build_pipeline

KEPT = TP("t-customers-changelog", 0)  # the store is 30 records behind; the end is a marker
EMPTY = TP("t-customers-changelog", 1)  # nothing written
AHEAD = TP("t-entities-changelog", 0)  # the store is past faust's end: not probed


class _Consumer:
    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 0)


def _recovery(settings: Settings) -> PromptRecovery:
    pipeline = build_pipeline(settings, Metrics(CollectorRegistry()))
    pipeline.app.in_worker = True  # exactly-once transactions are on in a worker only
    found = cast(Any, pipeline.app.tables).recovery
    assert isinstance(found, PromptRecovery)
    return found


def _build(tmp_path: Path, probe: Any, monkeypatch: pytest.MonkeyPatch) -> Counter[TP]:
    found = _recovery(Settings(data_dir=str(tmp_path)))
    monkeypatch.setattr(recovery, "last_visible_offsets", probe)
    found.active_highwaters.update({KEPT: 99, EMPTY: -1, AHEAD: 49})
    offsets: Counter[TP] = Counter({KEPT: 69, EMPTY: -1, AHEAD: 52})
    asyncio.run(found._build_offsets(_Consumer(), {KEPT, EMPTY, AHEAD}, offsets, "active"))
    return found.active_highwaters


def test_recovery_waits_for_the_last_record_the_probe_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict[TopicPartition, int]] = []

    async def probe(_: Any, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        asked.append(ends)
        return {TopicPartition(KEPT.topic, KEPT.partition): 98}

    highwaters = _build(tmp_path, probe, monkeypatch)
    # only partitions with records left to restore are probed, at faust's end offsets
    assert asked == [{TopicPartition(KEPT.topic, KEPT.partition): 100}]
    assert highwaters[KEPT] == 98
    assert highwaters[EMPTY] == -1
    assert highwaters[AHEAD] == 49


def test_a_failed_probe_leaves_faust_its_own_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def probe(*_: Any) -> dict[TopicPartition, int]:
        raise KafkaConnectionError("no broker")

    highwaters = _build(tmp_path, probe, monkeypatch)
    assert highwaters[KEPT] == 99


def test_a_store_past_the_last_visible_record_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the store holds writes of a transaction that was aborted after it lost the partition
    async def probe(*_: Any) -> dict[TopicPartition, int]:
        return {TopicPartition(KEPT.topic, KEPT.partition): 60}

    highwaters = _build(tmp_path, probe, monkeypatch)
    assert highwaters[KEPT] == 69


def test_without_transactions_there_is_nothing_to_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def probe(*_: Any) -> dict[TopicPartition, int]:
        raise AssertionError("probed without transactions")

    found = _recovery(Settings(data_dir=str(tmp_path), processing_guarantee="at_least_once"))
    monkeypatch.setattr(recovery, "last_visible_offsets", probe)
    found.active_highwaters.update({KEPT: 99})
    asyncio.run(found._build_offsets(_Consumer(), {KEPT}, Counter({KEPT: 69}), "active"))
    assert found.active_highwaters[KEPT] == 99
