"""A coroutine's first step at once, the rest in a task only if it waits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.engine.eager import Finished, start_eagerly


def test_a_coroutine_that_never_waits_finishes_in_its_first_step() -> None:
    async def scenario() -> tuple[Any, bool]:
        ran_in: list[asyncio.Task[Any] | None] = []

        async def put() -> str:
            ran_in.append(asyncio.current_task())
            return "queued"

        started = start_eagerly(put())
        return started, ran_in == [asyncio.current_task()]

    started, in_the_callers_task = asyncio.run(scenario())
    assert started == Finished("queued")
    assert in_the_callers_task


def test_an_exception_in_the_first_step_propagates_at_once() -> None:
    async def fails() -> None:
        raise ValueError("bad record")

    async def scenario() -> None:
        start_eagerly(fails())

    with pytest.raises(ValueError, match="bad record"):
        asyncio.run(scenario())


def test_a_coroutine_that_waits_goes_on_in_a_task_with_its_first_step_done() -> None:
    async def scenario() -> tuple[list[str], Any]:
        log: list[str] = []
        go_on = asyncio.get_running_loop().create_future()

        async def waits() -> str:
            log.append("first step")
            log.append(f"got {await go_on}")
            return "done"

        started = start_eagerly(waits())
        assert isinstance(started, asyncio.Task)
        assert log == ["first step"]
        go_on.set_result("the space")
        return log, await started

    log, result = asyncio.run(scenario())
    assert log == ["first step", "got the space"]
    assert result == "done"


def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    async def scenario() -> tuple[list[str], bool]:
        log: list[str] = []

        async def waits() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                log.append("cancelled in its wait")
                raise

        started = start_eagerly(waits())
        assert isinstance(started, asyncio.Task)
        await asyncio.sleep(0)
        started.cancel()
        with pytest.raises(asyncio.CancelledError):
            await started
        return log, started.cancelled()

    assert asyncio.run(scenario()) == (["cancelled in its wait"], True)


#: What a step of a coroutine does: return the loop once, wait for a future the test
#: completes, or wait for one the test fails.
STEPS = st.lists(st.sampled_from(["yield", "future", "failed future"]), max_size=6)


@given(steps=STEPS, raise_at_end=st.booleans())
def test_eagerly_started_coroutines_behave_as_their_own_tasks(
    steps: list[str], raise_at_end: bool
) -> None:
    """Same log, result or exception as ``create_task``, whatever the coroutine waits for."""

    def program(log: list[str]) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            loop = asyncio.get_running_loop()
            for n, step in enumerate(steps):
                log.append(f"step {n}")
                if step == "yield":
                    await asyncio.sleep(0)
                    continue
                fut = loop.create_future()
                if step == "future":
                    loop.call_soon(fut.set_result, n)
                    log.append(f"got {await fut}")
                else:
                    loop.call_soon(fut.set_exception, KeyError(n))
                    try:
                        await fut
                    except KeyError as exc:
                        log.append(f"caught {exc}")
            if raise_at_end:
                raise RuntimeError(len(steps))
            return len(steps)

        return run

    async def outcome(start: Callable[[Any], Any]) -> tuple[list[str], str]:
        log: list[str] = []
        try:
            started = start(program(log)())
            result = started.result if isinstance(started, Finished) else await started
        except RuntimeError as exc:
            return log, f"raised {exc}"
        return log, f"returned {result}"

    as_task = asyncio.run(outcome(asyncio.ensure_future))
    eager = asyncio.run(outcome(start_eagerly))
    assert eager == as_task
