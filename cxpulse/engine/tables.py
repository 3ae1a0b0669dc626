"""A faust table whose changelog writes a batch can wait for, and whose RocksDB store
draws on the worker's shared memory budget (``rocksdb_memory.py``).

faust hands a table write to its producer buffer and sends it to the changelog later, in
the background.  A commit may then hold a batch's input offsets but not yet its state:
after a crash the batch is not read again, and its state is gone with the aborted
transaction.  A batch therefore waits, before it ends, until its writes are delivered.

The scorers write with :meth:`StateTable.put`, which sends the changelog record straight
to the app's producer, as outputs are sent (``Pipeline.send``): faust's buffer costs a
queue hop, a ``FutureMessage`` and a task step per write, and its conductor stops the
stream to drain it, with a warning, whenever it holds more than 100 records.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
from faust.stores.memory import Store as MemoryStore
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import StoreT
from faust.types.tuples import FutureMessage

from cxpulse.engine.rocksdb_memory import SharedMemory, SharedMemoryOptions
from cxpulse.engine.transactions import TransactionalApp

#: Keys counted between two turns of the event loop.
COUNT_CHUNK = 10_000


class StateTable(faust.Table[bytes, bytes]):
    def __init__(
        self, *args: Any, rocksdb_memory: SharedMemory | None = None, **kwargs: Any
    ) -> None:
        self._rocksdb_memory = rocksdb_memory
        super().__init__(*args, **kwargs)
        self._unsent: list[Any] = []

    def _new_store_by_url(self, url: Any) -> StoreT[bytes, bytes]:
        store = super()._new_store_by_url(url)
        if self._rocksdb_memory is not None and isinstance(store, RocksDBStore):
            store.rocksdb_options = SharedMemoryOptions(store.rocksdb_options, self._rocksdb_memory)
        return store

    async def put(self, key: bytes, value: bytes, record: Any) -> None:
        """``table[key] = value`` for input ``record``: its partition, its transaction.

        faust's own callback records the changelog offset the store has persisted, so a
        restart reads the changelog from there on.  ``record`` must be faust's current
        event (``scorer.acting_for``): the store files the key under its partition.
        """
        message = record.message
        self.data[key] = value
        sent = await self.app.producer.send(
            self.changelog_topic.get_topic_name(),
            key,
            value,
            message.partition,
            None,
            None,
            transactional_id=cast(TransactionalApp, self.app).transactional_id(message),
        )
        delivery = asyncio.ensure_future(sent)
        delivery.add_done_callback(self._persisted)
        self._unsent.append(delivery)

    def _persisted(self, delivery: asyncio.Future[Any]) -> None:
        # faust's callback only reads the record's metadata off the future it is given.
        self._on_changelog_sent(cast(FutureMessage, delivery))

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        future = super().send_changelog(*args, **kwargs)
        self._unsent.append(future)
        return future

    async def delivered(self) -> None:
        """Wait until every write so far is in the changelog (its transaction, if any)."""
        unsent, self._unsent = self._unsent, []
        await asyncio.gather(*unsent)


async def count_keys(table: Any, chunk: int = COUNT_CHUNK) -> int | None:
    """Keys of ``table`` in this worker's active partitions, without holding the loop;
    None if a rebalance opened or closed a partition's store during the walk.

    faust's ``len()`` of a RocksDB table walks every key in one go, about a second per
    million keys: the whole worker stalled for that long.  This walk yields to the event
    loop after every ``chunk`` keys.  RocksDB's own key estimate is O(1) but counts every
    overwrite until a compaction, so it can be off by the number of updates.
    """
    store = table.data
    if isinstance(store, MemoryStore):  # a dict: O(1), and it must not change under a walk
        return len(store)
    count = 0
    try:
        for count, _ in enumerate(store.keys(), start=1):
            if count % chunk == 0:
                await asyncio.sleep(0)
    except RuntimeError:  # faust's dict of partition stores changed size under the walk
        return None
    return count
