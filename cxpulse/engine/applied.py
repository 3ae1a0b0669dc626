"""The last input offset a state table includes, per input partition.

A restart restores the tables from their changelogs and then reads its inputs from the
committed offsets: two reads, at two moments.  Under at-least-once a batch's state is in
the changelog before its offsets are committed, so a crash in between used to apply the
batch twice on restart; under exactly-once both commit in one transaction, yet a
transaction the coordinator completes after the crash can be seen by one read and not yet
by the other.  Each stateful batch therefore writes, with its states and in its input's
transaction, the last offset it applied on each partition; a record at or below it is
already in the state and is skipped, counted, and logged (quix-streams keeps processed
offsets in its state store for the same reason).
"""

from __future__ import annotations

import logging
from typing import Any

from cxpulse.engine.state import acting_for

#: The key of a partition's applied offset (no customer id or entity key starts so).
APPLIED_KEY = b"\x00applied"

log = logging.getLogger(__name__)


def applied_key(partition: int) -> bytes:
    return b"%s:%d" % (APPLIED_KEY, partition)


class AppliedOffsets:
    """One batch's applied offsets of one table (``table`` as ``StateBatch`` takes it)."""

    def __init__(self, table: Any, agent: str) -> None:
        self._table = table
        self._agent = agent
        self._last: dict[int, Any] = {}

    def unapplied(self, batch: list[Any]) -> tuple[list[Any], int]:
        """The records of ``batch`` the state does not include yet, and how many it does."""
        applied: dict[int, int] = {}
        fresh = []
        for record in batch:
            message = record.message
            partition = message.partition
            if partition not in applied:
                with acting_for(record):
                    raw = self._table.get(applied_key(partition))
                applied[partition] = -1 if raw is None else int(raw)
            if message.offset > applied[partition]:
                fresh.append(record)
                last = self._last.get(partition)
                if last is None or message.offset > last.message.offset:
                    self._last[partition] = record
        skipped = len(batch) - len(fresh)
        if skipped:
            log.info(
                "%s: skipped %d records its state already includes (offsets up to %s)",
                self._agent,
                skipped,
                applied,
            )
        return fresh, skipped

    async def commit(self) -> None:
        """Write the last offset applied on each partition, in that record's partition and
        transaction; call it after the batch's own states are committed."""
        for partition, record in self._last.items():
            with acting_for(record):
                await self._table.put(applied_key(partition), b"%d" % record.message.offset, record)
        await self._table.delivered()
