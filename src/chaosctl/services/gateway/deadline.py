"""`asyncio.timeout(delay)` as a plain (synchronous) context manager, for the predict path's tries.

Why: a predict request bounds three awaits (the cache's GET and SET, the model server's try), and
`async with asyncio.timeout(...)` costs two coroutines (its async `__aenter__`/`__aexit__`), a state
machine and two extra loop lookups each time: ~4 % of the gateway's samples under load (py-spy,
32 connections). Nothing in entering or leaving a timeout has to await, so `with deadline(s):`
inside a coroutine does the same with one timer handle: the task is cancelled when the delay
runs out, and that cancellation (only that one: not one of the caller's, which stays a
`CancelledError`) leaves the block as `TimeoutError`, exactly as in asyncio.timeouts.Timeout
(CPython 3.11: the `cancelling()`/`uncancel()` count tells whose cancellation it was).
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class deadline:  # noqa: N801 - used like asyncio.timeout
    """`with deadline(seconds):` in a task: the block is cancelled after `seconds`, raising TimeoutError."""

    __slots__ = ("_delay", "_task", "_handle", "_cancelling", "expired")

    def __init__(self, delay: float) -> None:
        self._delay = delay

    def __enter__(self) -> deadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("deadline should be used inside a task")
        self._task, self._cancelling, self.expired = task, task.cancelling(), False
        self._handle = asyncio.get_running_loop().call_later(self._delay, self._on_timeout)
        return self

    def _on_timeout(self) -> None:
        self._task.cancel()
        self.expired = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 _tb: TracebackType | None) -> None:  # fmt: skip
        self._handle.cancel()
        # As Timeout.__aexit__: ours to turn into TimeoutError only if no one else asked to cancel meanwhile.
        if self.expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc
