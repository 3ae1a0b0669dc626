"""A faust table whose changelog writes a batch can wait for.

faust hands a table write to its producer buffer and sends it to the changelog later, in
the background.  A commit may then hold a batch's input offsets but not yet its state:
after a crash the batch is not read again, and its state is gone with the aborted
transaction.  A batch therefore waits, before it ends, until its writes are delivered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust


class StateTable(faust.Table[bytes, bytes]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unsent: list[Any] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        future = super().send_changelog(*args, **kwargs)
        self._unsent.append(future)
        return future

    async def delivered(self) -> None:
        """Wait until every write so far is in the changelog (its transaction, if any)."""
        unsent, self._unsent = self._unsent, []
        await asyncio.gather(*unsent)
