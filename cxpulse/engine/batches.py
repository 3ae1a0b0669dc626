"""How every batch is handled, on either input path: inside the commit gate, timed.

On the stream path :func:`run_batches` takes the batches from faust's stream; on the batch
path ``partition_batches.py`` cuts them from each partition's fetch.  Both hand each one to
:func:`handle_in_gate`: the gate keeps a transaction commit from splitting it
(``transactions.CommitGate``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxpulse.engine.transactions import CommitGate

Batch = list[Any]


async def handle_in_gate(
    handle: Callable[[Batch], Awaitable[None]],
    batch: Batch,
    *,
    gate: CommitGate,
    observe: Callable[[float], None],
) -> None:
    """``handle(batch)`` inside the commit gate; ``observe`` gets its seconds."""
    started = time.perf_counter()
    async with gate.batch():
        await handle(batch)
    observe(time.perf_counter() - started)


async def run_batches(
    stream: Any,
    handle: Callable[[Batch], Awaitable[None]],
    *,
    size: int,
    within_s: float,
    gate: CommitGate,
    observe: Callable[[float], None],
) -> None:
    """Hand each batch of at most ``size`` records (or what ``within_s`` seconds brought)
    of ``stream`` to ``handle`` inside the commit gate; ``observe`` gets its seconds."""
    async for batch in stream.take_events(size, within=within_s):
        await handle_in_gate(handle, batch, gate=gate, observe=observe)
