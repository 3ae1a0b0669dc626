"""Table recovery that ends at the changelog's last record, not ten seconds after it.

Under exactly-once every transaction ends with a marker in each partition it wrote, so
the last offset of a changelog is a marker, which consumers never see.  faust takes the
offset before the end for the last record to restore, waits for it, and only after two
5-second timeouts of an idle changelog decides that a transaction marker was in the way.
Each recovery (a start with state, every rebalance) so stalled its worker for ten
seconds.  Before restoring, :class:`PromptRecovery` reads the tail of each changelog
partition with a read_committed probe and sets the offset to wait for to its last record;
where the tail holds none (a long aborted transaction), faust's own wait stays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery

from cxpulse.engine.committed_reads import last_record_before

#: How many offsets before the end of a partition the probe reads.
TAIL = 256
PROBE_TIMEOUT_S = 5.0
#: Allowance for the probe's connection and metadata on top of its reads.
PROBE_START_S = 10.0


async def last_visible_offsets(
    consumer_kwargs: Mapping[str, Any],
    ends: Mapping[TopicPartition, int],
    *,
    tail: int = TAIL,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> dict[TopicPartition, int]:
    """The offset of the last record a read_committed consumer sees before ``ends[tp]``.

    Only partitions read to their end within ``timeout_s`` whose last ``tail`` offsets
    hold such a record are in the result: a partial read would name too early a record.
    """
    probe = AIOKafkaConsumer(
        **consumer_kwargs,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await probe.start()
    try:
        partitions = list(ends)
        probe.assign(partitions)
        starts = await probe.beginning_offsets(partitions)
        found: dict[TopicPartition, int] = {}
        try:
            async with asyncio.timeout(timeout_s):
                for tp in partitions:
                    if starts[tp] >= ends[tp]:
                        continue
                    seek_to = max(starts[tp], ends[tp] - tail)
                    last = await last_record_before(probe, tp, seek_to, ends[tp])
                    if last is not None:
                        found[tp] = last.offset
        except TimeoutError:
            pass  # the partitions read to their end so far are sound
        return found
    finally:
        await probe.stop()


class PromptRecovery(Recovery):
    async def _build_offsets(self, consumer: Any, tps: Any, destination: Any, title: str) -> None:
        await super()._build_offsets(consumer, tps, destination, title)
        if title != "active" or not self.app.in_transaction:
            return
        highwaters = self.active_highwaters
        # faust's highwater is the offset before the end: the end is highwater + 1.
        ends = {
            TopicPartition(tp.topic, tp.partition): highwaters[tp] + 1
            for tp in tps
            if highwaters.get(tp) is not None and destination[tp] < highwaters[tp]
        }
        if not ends:
            return
        by_name = {(tp.topic, tp.partition): tp for tp in tps}
        probe_kwargs = cast(Any, self.app).probe_kwargs
        try:
            lasts = await asyncio.wait_for(
                last_visible_offsets(probe_kwargs, ends), PROBE_TIMEOUT_S + PROBE_START_S
            )
        except Exception as exc:  # the probe only shortens recovery; faust's wait is sound
            self.log.warning("changelog probe failed (%r); recovery waits as faust does", exc)
            return
        self.log.info(
            "changelog probe found the last record of %d of %d partitions", len(lasts), len(ends)
        )
        for found, last in lasts.items():
            tp = by_name[found.topic, found.partition]
            # A store ahead of the changelog (aborted writes of a revoked partition) is
            # trusted, as faust does once its wait runs out.
            highwaters[tp] = max(last, destination[tp])


class PromptTableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = PromptRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery

    def persist_pending_offsets(self) -> None:
        """Write into each store the changelog offset faust kept for it until the commit.

        Under exactly-once faust keeps them by *changelog* partition and looks them up by
        the *input* partitions it commits, so it never wrote one: every start read every
        changelog from its beginning (2.2 s for 20,000 customers, and growing with the
        state).  Call it once the final commit of a clean stop went through: every write
        is then committed, and a store left by any other stop is discarded at the next
        start (``transactions.discard_unclean_store``).
        """
        pending, self._pending_persisted_offsets = self._pending_persisted_offsets, {}
        for tp, (store, offset) in pending.items():
            store.set_persisted_offset(tp, offset)
