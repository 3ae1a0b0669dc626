"""The batch-native input path: the records of one partition's fetch go to one handler.

faust hands every fetched record on by itself: a ``ConsumerMessage``, the conductor's
callback, a stream's queue, an ``Event``, ``take_events``' buffer, and an acknowledgement
that files the offset in a sorted list from which the next offset to commit is worked
out.  For the topics registered here :class:`transactions.GatedConsumer` instead gives
the records of each partition's fetch, in slices of at most ``size``, to the topic's
handler; once the handler returns, that partition's next offset to commit is the slice's
last offset + 1.  faust's commit timer, rebalance and stop commit it through
``GatedConsumer.commit``: the same commit gate and transactions as the stream path.

A slice runs in a task of its own, awaited by the fetch loop: faust cancels the fetch
loop when the app stops, and a cancelled slice would leave half its outputs in the
transaction the final commit commits.  The stop and every rebalance instead wait for the
slice in flight (:meth:`PartitionBatches.wait_idle`) before they commit.

Nothing here imports faust: the consumer decides which records may be handed on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cxpulse.engine.batches import handle_in_gate

if TYPE_CHECKING:
    from cxpulse.engine.transactions import CommitGate


@dataclass(slots=True, weakref_slot=True)
class Delivered:
    """One fetched record, with the names agents read off a faust message (``timestamp``
    in seconds).  It is its own ``message``: faust's tables file a read or write under
    the partition of the current event's ``message``."""

    topic: str
    partition: int
    offset: int
    timestamp: float | None
    key: bytes | None
    value: bytes | None
    headers: Any

    @property
    def message(self) -> Delivered:
        return self

    @classmethod
    def of(cls, record: Any) -> Delivered:
        """From an aiokafka ``ConsumerRecord`` (timestamp in milliseconds)."""
        stamp = record.timestamp
        return cls(
            record.topic,
            record.partition,
            record.offset,
            None if stamp is None else stamp / 1000.0,
            record.key,
            record.value,
            record.headers,
        )


Handler = Callable[[list[Delivered]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Route:
    handle: Handler
    #: Gets the seconds each slice took.
    observe: Callable[[float], None]


class PartitionBatches:
    """The handlers of the topics read batch by batch, and how far each partition is done."""

    def __init__(self, gate: CommitGate, size: int) -> None:
        self._gate = gate
        self._size = size
        self._routes: dict[str, _Route] = {}
        #: The registered topics' names (read on every fetch and commit).
        self.topics: frozenset[str] = frozenset()
        #: The next offset to commit, per partition (faust's ``TP``) handled here.
        self._done: dict[Any, int] = {}
        self._in_flight: asyncio.Task[None] | None = None

    def register(self, topic: str, handle: Handler, observe: Callable[[float], None]) -> None:
        if topic in self._routes:
            raise ValueError(f"topic {topic!r} already has a batch handler")
        self._routes[topic] = _Route(handle, observe)
        self.topics = frozenset(self._routes)

    def take(self, records: MutableMapping[Any, Sequence[Any]]) -> list[tuple[Any, Sequence[Any]]]:
        """Remove the partitions of registered topics from a fetch's ``records`` (partition
        -> records) and return them: faust never sees them."""
        routes = self._routes
        mine = [tp for tp in records if tp.topic in routes]
        return [(tp, records.pop(tp)) for tp in mine]

    async def hand_on(
        self, tp: Any, records: Sequence[Any], *, still_valid: Callable[[], bool]
    ) -> int | None:
        """Give ``records`` (aiokafka records of partition ``tp``, in offset order) to the
        topic's handler, slice by slice, while ``still_valid()``; returns the offset of the
        last record handled (None: none was).

        A slice that raises stops the rest; the exception propagates.  A slice goes on
        when the caller is cancelled, and records its offset once it is done.
        """
        route = self._routes[tp.topic]
        last = None
        for start in range(0, len(records), self._size):
            if not still_valid():
                break
            part = [Delivered.of(record) for record in records[start : start + self._size]]
            task = asyncio.ensure_future(self._run(tp, route, part))
            self._in_flight = task
            await asyncio.shield(task)
            last = part[-1].offset
        return last

    async def _run(self, tp: Any, route: _Route, part: list[Delivered]) -> None:
        async def handle_then_mark_done(batch: list[Any]) -> None:
            await route.handle(batch)
            self._done[tp] = batch[-1].offset + 1

        await handle_in_gate(handle_then_mark_done, part, gate=self._gate, observe=route.observe)

    async def wait_idle(self) -> None:
        """Wait until the slice in flight, if any, has ended (however it ended)."""
        task = self._in_flight
        if task is not None and not task.done():
            await asyncio.wait([task])

    def next_offset(self, tp: Any) -> int | None:
        """The offset to commit on ``tp``: one past the last record handled."""
        return self._done.get(tp)

    def pending(self) -> Iterable[Any]:
        """The partitions with handled records."""
        return list(self._done)

    def forget(self, tps: Iterable[Any]) -> None:
        """Drop what was handled on ``tps`` (revoked: their next owner does it again)."""
        for tp in tps:
            self._done.pop(tp, None)
