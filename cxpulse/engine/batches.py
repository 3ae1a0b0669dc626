"""The one batch loop of every agent: take a batch, pass the commit gate, time it.

Agents hand :func:`run_batches` a function of one batch; the gate keeps a transaction
commit from splitting it (``transactions.CommitGate``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from cxpulse.engine.transactions import CommitGate

Batch = list[Any]


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
        started = time.perf_counter()
        async with gate.batch():
            await handle(batch)
        observe(time.perf_counter() - started)
