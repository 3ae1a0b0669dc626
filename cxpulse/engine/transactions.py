"""Exactly-once processing: outputs, state and input offsets commit in one Kafka transaction.

faust-streaming keeps one transactional producer per input partition and commits a
partition's offsets in that producer's transaction.  What it takes to make that
exactly-once for cxpulse, whose outputs are keyed differently from their inputs, and to
make faust's recovery sound (each found by the fault tests in tests/integration):

- every output is sent under the transaction of the *input* record it came from
  (:meth:`TransactionalApp.transactional_id`), not of the partition it lands on, which is
  what faust's own ``Topic.send`` does;
- a commit never splits a batch (:class:`CommitGate`): it waits until no agent is between
  its first output and the acknowledgement of its records, and a batch ends only once its
  state writes are delivered (``tables.StateTable``), so a committed transaction holds
  whole batches with their outputs, state and offsets;
- changelog recovery reads up to the last committed offset: faust asked for an offset that
  is unknown before the first fetch, so every changelog looked empty and a restarted
  worker recovered no state (:class:`CommittedHighwaterConsumerThread`);
- and it ends at the last committed record, not ten seconds after it, waiting for a
  transaction marker to arrive as a record (``recovery.py``);
- stream partitions are read only once recovery has seeked them to their committed
  offsets, and nothing is committed before (:attr:`TransactionalApp.seek_pending`; this
  one matters under at-least-once too), also when a second rebalance interrupts a
  recovery;
- a fetch asks for the partitions active when it began (:meth:`GatedConsumer._getmany`):
  faust passed its live set, which emptied during the wait when recovery paused the
  changelogs, and aiokafka then returned records of the held-back partitions, which faust
  dropped;
- a rebalance ends the open transactions and begins new ones, so only the app's stop
  ends them for good (:meth:`GatedConsumer.commit`);
- that final commit also records in each store how far into its changelog it is: faust
  keeps these offsets by changelog partition until a commit and looks them up by the input
  partitions it commits, so it never wrote one, and each start read every changelog
  record since the last recovery (``PromptTableManager.persist_pending_offsets``);
- a partition that moves away leaves its open transaction to be aborted by its next
  owner, who does the work again.  (Committing it first, on revoke, stalled the partitions
  this worker kept under faust-streaming 0.15: their transactions never committed again.)

A worker that did not stop cleanly may have written aborted state to its local RocksDB
store; ``worker.py`` discards such a store at start (:func:`mark_clean_stop`,
:func:`discard_unclean_store`) so that the changelog, which holds committed state only,
restores it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from time import monotonic
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults

from cxpulse.engine.eager import Finished, start_eagerly
from cxpulse.engine.partition_batches import PartitionBatches
from cxpulse.engine.recovery import PromptTableManager

CLEAN_STOP_MARKER = "cxpulse-clean-stop"


class CommitGate:
    """Batches and transaction commits take turns; a waiting commit goes first.

    Any number of batches may be in flight at once.  A commit waits until none is, and
    while it waits or runs no new batch starts.  A batch leaves the gate without awaiting
    anything, so faust acknowledges its records before a waiting commit can run.
    """

    def __init__(self) -> None:
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()
        self._open.set()
        self._commits = asyncio.Lock()
        #: A batch ended by an exception (cancelled at shutdown, crashed): its partial
        #: state writes may be in a transaction that never commits.
        self.interrupted = False

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        while not self._open.is_set():
            await self._open.wait()
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        except BaseException:
            self.interrupted = True
            raise
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    @asynccontextmanager
    async def commit(self) -> AsyncIterator[None]:
        async with self._commits:
            self._open.clear()
            try:
                await self._idle.wait()
                yield
            finally:
                self._open.set()


class CommittedHighwaterConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Changelog recovery must read up to the last *committed* offset.

    Under exactly-once faust asks aiokafka for ``last_stable_offset``, which is only known
    once a fetch has returned data for the partition; at recovery nothing has been fetched
    yet, so every changelog looked empty and a restarted worker recovered no state.  A
    read_committed consumer's ``end_offsets`` is the last stable offset, asked of the
    broker.

    The consumer also gets the app's ``fetch_max_wait_ms`` instead of faust's fixed 1.5 s.
    aiokafka keeps one fetch in flight per broker and leaves out of it the partitions
    whose records are not yet consumed.  The input partitions were often left out, so the
    fetch held only internal topics, whose records all derive from the input: it waited
    the whole 1.5 s, then the input's backlog came in one burst.  A paced live stream
    lagged 2-3 s that way while the worker sat idle.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        if not hasattr(consumer, "_fetch_max_wait_ms"):  # read by AIOKafkaConsumer.start()
            raise RuntimeError("this aiokafka has no _fetch_max_wait_ms to set")
        consumer._fetch_max_wait_ms = cast(TransactionalApp, self.app).fetch_max_wait_ms
        return consumer

    async def _highwaters(self, partitions: list[Any]) -> Any:
        return await self._ensure_consumer().end_offsets(partitions)


class GatedConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer, fitted for exactly-once recovery and commits.

    It reads changelogs to their last committed offset, holds stream partitions back and
    commits nothing until recovery has seeked them, makes transactional commits pass the
    app's commit gate (none after the final one at shutdown), and hands the fetched
    records of the app's batch topics to their handlers (``partition_batches.py``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_back: set[Any] = set()
        self._batches: PartitionBatches = cast(TransactionalApp, self.app).partition_batches

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        """faust's fetch, less the partitions of batch topics: their records go to their
        handlers here, partition by partition, and faust's per-record path never sees them.

        Records are handed on only while the flow runs in the generation they were
        fetched in, and from the partition's read offset on (as faust's own loop does).
        Records not handed on are read again: a stopped flow makes faust seek back to the
        committed offsets, and a new generation's recovery seeks too.
        """
        records, active = await super()._wait_next_records(timeout)
        if records and self._batches.topics:
            generation = self.app.consumer_generation_id
            for tp, fetched in self._batches.take(cast(dict[Any, Any], records)):
                await self._hand_on(tp, fetched, active, generation)
        return records, active

    async def _hand_on(self, tp: Any, fetched: Any, active: Any, generation: int) -> None:
        app = self.app

        def still_valid() -> bool:
            return (
                self.flow_active
                and not self.should_stop
                and app.consumer_generation_id == generation
                and (active is None or tp in active)
            )

        read = self._read_offset[tp]
        if read is not None:
            fetched = [record for record in fetched if record.offset >= read]
        try:
            last = await self._batches.hand_on(tp, fetched, still_valid=still_valid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Its outputs may be in the open transaction: stop before anything commits.
            self.log.exception("a batch of %s raised; stopping the worker", tp)
            await app.crash(exc)
            raise
        if last is not None:
            # What faust's per-record path tells its monitor: the lag gauge and the
            # livelock check read it.
            self._read_offset[tp] = last
            monitor = app.monitor
            monitor.tp_read_offsets[tp] = last
            monitor.track_tp_end_offset(tp, self.highwater(tp))
            monitor.stream_inbound_time[tp] = monotonic()

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Any:
        """faust's partitions with acknowledged records, and those with handled batches."""
        acked = list(super()._filter_tps_with_pending_acks(topics))
        handled = [
            tp
            for tp in self._batches.pending()
            if topics is None or tp in topics or tp.topic in topics
        ]
        return iter(acked + handled)

    def _new_offset(self, tp: Any) -> int | None:
        """A batch topic's partition commits one past its last handled record."""
        if tp.topic in self._batches.topics:
            return self._batches.next_offset(tp)
        offset: int | None = super()._new_offset(tp)
        return offset

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Let the slice in flight end, then drop what was handled on the revoked
        partitions: their next owner does it again, as faust drops their acknowledgements.
        The flow stops first, so that no other slice begins in between."""
        self.stop_flow()
        await self._batches.wait_idle()
        self._batches.forget(revoked)
        await super().on_partitions_revoked(revoked)

    async def wait_empty(self) -> None:
        """faust waits for its unacknowledged records before a rebalance's or the stop's
        commit; this waits for the slice in flight first."""
        await self._batches.wait_idle()
        await super().wait_empty()

    def _new_consumer_thread(self) -> Any:
        return CommittedHighwaterConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        """faust's hand-off of a fetched message, without four tasks when it need not wait.

        The fetch loop calls ``wait_first(callback(message), suspend_flow.wait())``.  When
        the flow runs and the callback finishes in its first step, the message is handed
        on with one return to the loop (so the streams run between messages, as they do
        under faust's ``asyncio.wait``); otherwise faust's own path waits for the rest.
        """
        first = coros[0] if coros else None
        if timeout is not None or not asyncio.iscoroutine(first) or not self._flow_runs():
            return await super().wait_first(*coros, timeout=timeout)
        started = start_eagerly(first)
        if isinstance(started, Finished):
            for other in coros[1:]:
                if asyncio.iscoroutine(other):
                    other.close()
            await asyncio.sleep(0)
            return WaitResults([first], [started.result], False)
        return await super().wait_first(started, *coros[1:])

    def _flow_runs(self) -> bool:
        return not (self.suspend_flow.is_set() or self.should_stop)

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        """Fetch for the partitions active now, not for whatever faust's set holds later.

        faust hands the consumer thread its live set of active partitions, and aiokafka
        reads an empty set as *every* partition.  When recovery paused the changelogs
        while the stream partitions were still held back for their seek, the set emptied
        during the wait: aiokafka returned, and moved past, records of the held-back
        partitions, which faust then dropped as inactive.  The restarted worker never
        read them and stalled at its committed offsets.
        """
        wanted = None if active_partitions is None else set(active_partitions)
        records = await super()._getmany(wanted, timeout)
        batch_topics = self._batches.topics
        for tp, offset_from, offset_to in skipped_after_offset_zero(self._read_offset, records):
            if self.app.topics.acks_enabled_for(tp.topic) and tp.topic not in batch_topics:
                await self._add_gap(tp, offset_from, offset_to)
        return records

    def resume_partitions(self, tps: Any) -> None:
        """Hold stream partitions back until :meth:`perform_seek` has placed them."""
        tps = set(tps)
        if cast(TransactionalApp, self.app).seek_pending:
            streams = {tp for tp in tps if not self._is_changelog_tp(tp)}
            self._held_back |= streams
            tps -= streams
        super().resume_partitions(tps)

    async def perform_seek(self) -> None:
        """Seek to the committed offsets, then release the held-back partitions.

        A rebalance during the seek starts another recovery, which seeks again: the
        partitions stay held back until a seek has run within one generation.
        """
        app = cast(TransactionalApp, self.app)
        generation = app.consumer_generation_id
        await super().perform_seek()
        if app.consumer_generation_id != generation:
            return
        app.seek_pending = False
        held, self._held_back = self._held_back, set()
        super().resume_partitions(held & set(self.assignment()))

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """faust's commit, and the commit times its livelock check reads.

        Only faust's own consumer commit records them, not a transaction's, so five
        minutes (``broker_commit_livelock_soft_timeout``) after start a worker behind on
        its input logged every partition as never committed, a long error four times a
        second per partition, for as long as it stayed behind.
        """
        committed = bool(await super()._commit_offsets(offsets, start_new_transaction))
        if committed and self.in_transaction:
            self._thread.tp_last_committed_at.update(dict.fromkeys(offsets, monotonic()))
        return committed

    async def commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """The commit order, in one place.  Steps 1-3 run at the end of every batch
        (``state.StateBatch.commit``), inside the commit gate:

        1. every output of the batch is delivered, in its input's transaction;
        2. the states that record those outputs are written (store and changelog);
        3. those changelog writes are delivered, and the batch leaves the gate.

        Then, on faust's commit timer, a rebalance or the stop (this method):

        4. nothing is committed until recovery has seeked the stream partitions;
        5. the gate closes and waits until no batch is between steps 1 and 3;
        6. the producer is flushed: nothing of a committed batch is still in a buffer;
        7. faust commits the offsets in each input partition's transaction and begins
           the next;
        8. at the app's stop that was the last: each store records the changelog offset
           it holds, and ``worker.py`` then marks the stop clean.
        """
        app = cast(TransactionalApp, self.app)
        # 4.
        if app.seek_pending:
            return False
        if not app.in_transaction:
            return bool(await super().commit(topics, start_new_transaction))
        # 5.
        async with app.commit_gate.commit():
            if app.ended_transactions:
                # The final commit at shutdown ended the transactions; the commit timer
                # can still fire once, and would find no transaction to commit into.
                return False
            # 6.
            await app.producer.flush()
            # 7.
            committed = bool(await super().commit(topics, start_new_transaction))
            # 8. faust also ends the transactions during a rebalance (``wait_empty``),
            # then begins new ones: only the app's stop makes this the last.
            if not start_new_transaction and app.should_stop:
                app.ended_transactions = True
                cast(PromptTableManager, app.tables).persist_pending_offsets()
        return committed


def skipped_after_offset_zero(
    read_offsets: Mapping[Any, int | None], records: Mapping[Any, Sequence[Any]]
) -> list[tuple[Any, int, int]]:
    """The offsets a read_committed fetch skipped right after a partition's offset 0, as
    (partition, first, last): the gaps faust's fetch loop does not record.

    faust records a gap in the offsets it reads (aborted records and transaction markers
    are never returned) only when the last offset read is truthy: after offset 0 it
    records none.  The records after the gap are acknowledged, offset 1 never is, and the
    partition's commits stop at 1 for good: seen when a kill -9 left an aborted
    transaction right after a partition's first committed record.
    """
    found = []
    for tp, batch in records.items():
        last = read_offsets.get(tp)
        for record in batch:
            if last == 0 and record.offset > 1:
                found.append((tp, 1, record.offset - 1))
            last = record.offset
            if last > 1:
                break  # faust records every later gap itself
    return found


class TransactionalTransport(faust_aiokafka.Transport):
    Consumer = GatedConsumer


class TransactionalApp(faust.App):
    """A faust app whose exactly-once commits keep cxpulse's batches whole."""

    def __init__(
        self,
        *args: Any,
        fetch_max_wait_ms: int = 1500,
        probe_kwargs: dict[str, Any] | None = None,
        batch_size: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, TableManager=PromptTableManager, **kwargs)
        #: How long the broker may hold a fetch with nothing new (faust fixes 1500).
        self.fetch_max_wait_ms = fetch_max_wait_ms
        #: ``AIOKafkaConsumer`` arguments (servers, security) of the recovery's probe.
        self.probe_kwargs = probe_kwargs or {}
        self.commit_gate = CommitGate()
        #: The topics read batch by batch, without faust's streams (``partition_batches``).
        self.partition_batches = PartitionBatches(self.commit_gate, batch_size)
        #: The final commit at shutdown went through (set by :class:`GatedConsumer`).
        self.ended_transactions = False
        #: Partitions were assigned and not yet seeked to their committed offsets.
        #: faust's recovery resumes the stream partitions *before* it seeks them, so
        #: records were read, scored and acknowledged in between, and the seek then made
        #: faust skip the records it had fetched but not yet handed on (seen after a
        #: kill -9: a run of records per partition never scored; and when a second
        #: rebalance came during a recovery: the gap stopped the partition's commits for
        #: good).  While this is set the consumer holds stream partitions back until the
        #: seek (:meth:`GatedConsumer.perform_seek`), and nothing is committed.
        self.seek_pending = False

    async def _on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        self.seek_pending = True
        await super()._on_partitions_assigned(assigned, generation_id)

    def _new_transport(self) -> Any:
        return TransactionalTransport(self.conf.broker_consumer, self)

    def read_in_batches(
        self,
        topic: Any,
        handle: Callable[[list[Any]], Awaitable[None]],
        observe: Callable[[float], None],
    ) -> None:
        """Subscribe to ``topic`` and read it on the batch input path: slices of each
        partition's fetch go to ``handle``, ``observe`` gets their seconds."""
        self.partition_batches.register(topic.get_topic_name(), handle, observe)
        self.topics.add(topic)

    def transactional_id(self, message: Any) -> str | None:
        """The transaction the outputs of input ``message`` belong to (None: not in one).

        Same format as faust's commit (``{app id}-{topic group}-{partition}``), so outputs
        commit together with the offset of the record that caused them.
        """
        if not self.in_transaction:
            return None
        group = self.assignor.group_for_topic(message.topic)
        return f"{self.conf.id}-{group}-{message.partition}"

    def stopped_cleanly(self) -> bool:
        return self.ended_transactions and not self.commit_gate.interrupted


def discard_unclean_store(tabledir: Path) -> bool:
    """Remove a table store that was not left by a clean stop; True if one was removed.

    Its files may hold writes of transactions that were aborted; faust restores the
    tables from their changelogs, which hold committed writes only.  The marker of a clean
    stop is consumed: a crash of this run leaves none behind.
    """
    marker = tabledir / CLEAN_STOP_MARKER
    if marker.exists():
        marker.unlink()
        return False
    if not tabledir.exists() or not any(tabledir.iterdir()):
        return False
    shutil.rmtree(tabledir)
    return True


def mark_clean_stop(tabledir: Path) -> None:
    tabledir.mkdir(parents=True, exist_ok=True)
    (tabledir / CLEAN_STOP_MARKER).touch()
