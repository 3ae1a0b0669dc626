"""The local state store keeps faust's record of how far into its changelog it is.

faust writes that offset into each partition's RocksDB database as changelog records are
delivered, and a restart reads the changelog only from there on.  The scorers send their
changelog records themselves (``StateTable.put``), so the record must still be kept.
Under at-least-once faust keeps it at every delivery; under exactly-once cxpulse keeps it
at the final commit of a clean stop (``PromptTableManager.persist_pending_offsets``).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import rocksdict

from bench import kafka_ops
from tests.integration.conftest import make_worker
from tests.integration.kafka_io import collect_ids, produce_events

pytestmark = pytest.mark.slow

OFFSET_KEY = b"__faust\0offset__"


def _persisted_offset(db_path: Path) -> int | None:
    db = rocksdict.Rdict(
        str(db_path),
        options=rocksdict.Options(raw_mode=True),
        access_type=rocksdict.AccessType.read_only(),
    )
    try:
        raw = db.get(OFFSET_KEY)
    finally:
        db.close()
    return None if raw is None else int(raw)


def _all_committed(bootstrap: str, group: str, topics: list[str]) -> bool:
    done = asyncio.run(kafka_ops.committed(bootstrap, group))
    ends = asyncio.run(kafka_ops.end_offsets(bootstrap, topics))
    return all(done.get(tp, 0) >= end for tp, end in ends.items())


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_clean_stop_leaves_each_store_at_the_last_changelog_offset_it_holds(
    bootstrap: str,
    tmp_path: Path,
    scenario: tuple[list[dict[str, Any]], set[str]],
    guarantee: str,
) -> None:
    events, expected = scenario
    worker = make_worker(bootstrap, tmp_path, CXPULSE_PROCESSING_GUARANTEE=guarantee)
    app_id = worker.env["CXPULSE_APP_ID"]
    try:
        worker.start()
        produce_events(bootstrap, worker.topic("input"), events)
        collect_ids(bootstrap, worker.topic("alerts"), expected)
        topics = [worker.topic("input"), worker.topic("events"), worker.topic("summaries")]
        deadline = time.monotonic() + 60
        while not _all_committed(bootstrap, app_id, topics):
            assert time.monotonic() < deadline, "the worker did not commit all its input"
            time.sleep(0.5)
    finally:
        worker.stop(signal.SIGTERM, grace_s=30)
    assert worker.process is not None
    assert worker.process.returncode == 0, worker.log_tail()

    changelog = f"{app_id}-customers-changelog"
    ends = asyncio.run(kafka_ops.end_offsets(bootstrap, [changelog]))
    tables = Path(worker.env["CXPULSE_DATA_DIR"]) / "v1" / "tables"
    found = {
        tp.partition: _persisted_offset(tables / f"customers-{tp.partition}.db") for tp in ends
    }
    wanted = {tp.partition: end - 1 for tp, end in ends.items()}
    assert all(end > 0 for end in wanted.values()), wanted
    assert found == wanted
