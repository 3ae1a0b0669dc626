"""A batch's view of a state table: each key read once, written back once.

``StateBatch.commit`` is steps 1 to 3 of the commit order (``transactions.py``,
:meth:`GatedConsumer.commit` has the rest): a batch's outputs are delivered before the
states that record them are written, and those writes are delivered before the batch ends.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

from faust.streams import _current_event as CURRENT_EVENT


class Saved(Protocol):
    def to_bytes(self) -> bytes: ...


State = TypeVar("State", bound=Saved)


@contextmanager
def acting_for(record: Any) -> Iterator[None]:
    """Make ``record`` faust's current event while a table is read or written.

    faust files table reads and writes under the partition of the *current* event (a
    context variable, ``faust.streams._current_event``), which inside ``take_events`` is
    whatever the stream read last.  Pointing it at the record being handled keeps every
    key's state (store and changelog) on that key's partition.  Only this task's context
    changes: the stream's background reader runs in its own task and keeps its own.
    """
    token = CURRENT_EVENT.set(weakref.ref(record))
    try:
        yield
    finally:
        CURRENT_EVENT.reset(token)


class StateBatch(Generic[State]):
    """One batch's states of one table, by key, with the input record each belongs to."""

    def __init__(self, table: Any, decode: Callable[[bytes], State]) -> None:
        self._table = table
        self._decode: Callable[[bytes], State] = decode
        self._states: dict[bytes, tuple[State, Any]] = {}

    def get(self, key: bytes, record: Any) -> State | None:
        """The state of ``key`` (None: none yet), read on ``record``'s partition."""
        if key in self._states:
            return self._states[key][0]
        with acting_for(record):
            raw = self._table.get(key)
        return None if raw is None else self._decode(raw)

    def put(self, key: bytes, state: State, record: Any) -> None:
        """Keep ``state`` for ``key``; written at :meth:`commit`, in ``record``'s
        partition and transaction."""
        self._states[key] = (state, record)

    async def commit(self, deliveries: list[Awaitable[Any]]) -> None:
        """Steps 1-3 of the commit order: a crash never loses an output, and under
        exactly-once (all of it in the input's transaction) never repeats one."""
        # 1. Every output of the batch is delivered (in its input's transaction).
        await asyncio.gather(*deliveries)
        # 2. The states that record those outputs are written, store and changelog.
        for key, (state, record) in self._states.items():
            with acting_for(record):
                await self._table.put(key, state.to_bytes(), record)
        # 3. The changelog records are delivered before the batch leaves the gate.
        await self._table.delivered()
