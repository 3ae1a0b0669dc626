"""A faust table whose changelog writes a batch can wait for, and whose RocksDB store
draws on the worker's shared memory budget (``rocksdb_memory.py``).

faust hands a table write to its producer buffer and sends it to the changelog later, in
the background.  A commit may then hold a batch's input offsets but not yet its state:
after a crash the batch is not read again, and its state is gone with the aborted
transaction.  A batch therefore waits, before it ends, until its writes are delivered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import StoreT

from cxpulse.agents.rocksdb_memory import SharedMemory, SharedMemoryOptions


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

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        future = super().send_changelog(*args, **kwargs)
        self._unsent.append(future)
        return future

    async def delivered(self) -> None:
        """Wait until every write so far is in the changelog (its transaction, if any)."""
        unsent, self._unsent = self._unsent, []
        await asyncio.gather(*unsent)
