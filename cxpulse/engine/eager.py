"""Run a coroutine's first step at once, and make a task of it only if it has to wait.

faust hands each fetched message to the streams with
``wait_first(callback(message), suspend_flow.wait())``: four tasks and an
``asyncio.wait`` per message, though the callback almost always finishes in its first
step (it puts the message into a stream's queue).  Python 3.12's eager tasks do the same
as :func:`start_eagerly`; this also runs on 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Finished:
    """The coroutine returned ``result`` in its first step."""

    result: Any


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> Finished | asyncio.Task[Any]:
    """Step ``coro`` once; a :class:`Finished` if it returned, else a task running the rest.

    An exception raised in the first step propagates from here.
    """
    try:
        yielded = coro.send(None)
    except StopIteration as stop:
        return Finished(stop.value)
    return asyncio.ensure_future(_Resumed(coro, yielded))


class _Resumed:
    """An awaitable that continues ``coro`` from what its first step yielded."""

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, None, Any]:
        # Handing the yielded future (or None, a bare yield) to the driving task is what
        # the coroutine's own task would have done with it.
        yielded = self._yielded
        while True:
            try:
                yield yielded
            except BaseException as exc:  # cancelled while waiting: the coroutine decides
                try:
                    yielded = self._coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                yielded = self._coro.send(None)
            except StopIteration as stop:
                return stop.value
