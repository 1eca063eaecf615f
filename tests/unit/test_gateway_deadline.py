"""gateway/deadline.py: `with deadline(s):` behaves as `async with asyncio.timeout(s):`, case by case.

Each case runs under both, and the outcomes must match: a fast block, a slow block, the caller's
own cancellation (never a TimeoutError), nested deadlines (the one that ran out answers), a
deadline caught and the task still usable, and use outside a task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import Any

import pytest

from chaosctl.services.gateway.deadline import deadline

Bound = Callable[[float], AbstractAsyncContextManager[Any]]


@asynccontextmanager
async def lean(seconds: float) -> Any:
    with deadline(seconds) as d:
        yield d


@asynccontextmanager
async def stdlib(seconds: float) -> Any:
    async with asyncio.timeout(seconds) as t:
        yield t


BOTH = pytest.mark.parametrize("bound", [lean, stdlib], ids=["deadline", "asyncio.timeout"])


async def outcome(coro: Awaitable[Any]) -> str:
    try:
        return f"ok {await coro}"
    except TimeoutError:
        return "timeout"
    except asyncio.CancelledError:
        return "cancelled"


@BOTH
def test_fast_block_returns_and_its_timer_is_gone(bound: Bound) -> None:
    asyncio.run(_test_fast_block_returns_and_its_timer_is_gone(bound))


async def _test_fast_block_returns_and_its_timer_is_gone(bound: Bound) -> None:
    async def work() -> int:
        async with bound(0.05):
            await asyncio.sleep(0)
        await asyncio.sleep(0.08)  # past the deadline (the case is a time, not a condition): nothing may cancel us now
        return 1

    assert await outcome(work()) == "ok 1"


@BOTH
def test_slow_block_raises_timeout_error(bound: Bound) -> None:
    asyncio.run(_test_slow_block_raises_timeout_error(bound))


async def _test_slow_block_raises_timeout_error(bound: Bound) -> None:
    async def work() -> int:
        async with bound(0.02):
            await asyncio.sleep(5)
        return 1

    assert await outcome(work()) == "timeout"


@BOTH
def test_callers_cancel_stays_a_cancel(bound: Bound) -> None:
    asyncio.run(_test_callers_cancel_stays_a_cancel(bound))


async def _test_callers_cancel_stays_a_cancel(bound: Bound) -> None:
    async def work() -> int:
        async with bound(5):
            await asyncio.sleep(5)
        return 1

    task = asyncio.get_running_loop().create_task(work())
    await asyncio.sleep(0.01)
    task.cancel()
    assert await outcome(task) == "cancelled"


@BOTH
def test_caller_cancels_after_the_deadline_fired(bound: Bound) -> None:
    asyncio.run(_test_caller_cancels_after_the_deadline_fired(bound))


async def _test_caller_cancels_after_the_deadline_fired(bound: Bound) -> None:
    """The deadline ran out and the caller cancelled too before the task ran again: a cancel, not a timeout."""
    started = asyncio.Event()

    async def work() -> int:
        async with bound(0.01):
            started.set()
            await asyncio.sleep(5)
        return 1

    loop = asyncio.get_running_loop()
    task = loop.create_task(work())
    await started.wait()
    loop.call_later(0.02, task.cancel)  # the caller's cancel, due after the deadline
    time.sleep(0.05)  # the loop held: both timers due, run in order (deadline first), then the task
    assert await outcome(task) == "cancelled"


@BOTH
def test_nested_the_one_that_ran_out_answers(bound: Bound) -> None:
    asyncio.run(_test_nested_the_one_that_ran_out_answers(bound))


async def _test_nested_the_one_that_ran_out_answers(bound: Bound) -> None:
    async def inner_runs_out() -> str:
        async with bound(5):
            try:
                async with bound(0.02):
                    await asyncio.sleep(5)
            except TimeoutError:
                return "inner"
        return "none"

    async def outer_runs_out() -> str:
        try:
            async with bound(0.02):
                async with bound(5):
                    await asyncio.sleep(5)
        except TimeoutError:
            return "outer"
        return "none"

    assert (await inner_runs_out(), await outer_runs_out()) == ("inner", "outer")


@BOTH
def test_task_usable_after_a_caught_timeout(bound: Bound) -> None:
    asyncio.run(_test_task_usable_after_a_caught_timeout(bound))


async def _test_task_usable_after_a_caught_timeout(bound: Bound) -> None:
    async def work() -> int:
        try:
            async with bound(0.01):
                await asyncio.sleep(5)
        except TimeoutError:
            pass
        await asyncio.sleep(0.02)  # no cancellation left pending on the task
        return asyncio.current_task().cancelling()  # type: ignore[union-attr]

    assert await outcome(work()) == "ok 0"


def test_outside_a_task_is_an_error() -> None:
    cm: AbstractContextManager[Any] = deadline(1)
    with pytest.raises(RuntimeError):  # no running loop
        cm.__enter__()

    async def in_a_callback() -> None:
        loop, done = asyncio.get_running_loop(), asyncio.Event()
        errors: list[str] = []

        def callback() -> None:  # a loop callback runs outside any task
            try:
                deadline(1).__enter__()
            except RuntimeError as exc:
                errors.append(str(exc))
            done.set()

        loop.call_soon(callback)
        await done.wait()
        assert errors == ["deadline should be used inside a task"]

    asyncio.run(in_a_callback())
