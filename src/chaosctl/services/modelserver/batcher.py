"""Dynamic batching: collect requests for up to `window_s` or `max_rows` rows, run them as one batch.

One batcher per (model, version). The collector loop hands each batch to `run_batch`
as its own task, so it keeps collecting the next batch while the device works on
this one (the device's concurrency bound is enforced inside `run_batch`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Pending:
    rows: np.ndarray
    context: Any  # the OpenTelemetry context of the request (parent of its inference span)
    enqueued: float  # event-loop time
    enqueued_ns: int = field(default_factory=time.time_ns)  # wall clock, for span start times
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


# run_batch(stacked rows, the requests in the batch) -> one result per request, in order
RunBatch = Callable[[np.ndarray, list[Pending]], Awaitable[list[Any]]]


class Slots:
    """The device's concurrency bound, counting the slots in use."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.in_use = 0
        self._sem = asyncio.Semaphore(size)

    async def acquire(self) -> None:
        await self._sem.acquire()
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
        self._sem.release()


class DynamicBatcher:
    """Batch-while-busy: `slots` (the device's concurrency bound) is taken before a batch is
    formed, so while the device is busy requests pile up into one larger batch instead of
    many small ones. With `idle_dispatch`, a device with nothing else in flight starts at
    once with what is queued (no window wait: batching buys nothing on an idle device and
    the window would only add latency); otherwise the batch collects for up to `window_s`."""

    def __init__(
        self,
        run_batch: RunBatch,
        max_rows: int = 32,
        window_s: float = 0.010,
        slots: Slots | None = None,
        idle_dispatch: bool = True,
    ) -> None:
        self.run_batch = run_batch
        self.max_rows = max_rows
        self.window_s = window_s
        self.slots = slots
        self.idle_dispatch = idle_dispatch
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._carry: Pending | None = None
        self._in_hand = 0
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    @property
    def waiting(self) -> int:
        """Requests not yet handed to the device."""
        return self._queue.qsize() + (self._carry is not None) + self._in_hand

    async def submit(self, rows: np.ndarray, context: Any = None) -> Any:
        if self._task is None:
            self._task = asyncio.create_task(self._collect())
        loop = asyncio.get_running_loop()
        item = Pending(rows, context, loop.time())
        await self._queue.put(item)
        return await item.future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _fill(self, first: Pending, wait: bool) -> list[Pending]:
        """Add queued requests to `first` until the window (counted from `first`'s arrival) closes;
        without `wait`, only what is queued already."""
        loop = asyncio.get_running_loop()
        batch, rows = [first], len(first.rows)
        deadline = first.enqueued + self.window_s if wait else loop.time()
        while rows < self.max_rows:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    item = self._queue.get_nowait()
                else:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
            except (asyncio.QueueEmpty, TimeoutError):
                break
            if rows + len(item.rows) > self.max_rows:
                self._carry = item  # starts the next batch; this one is full
                break
            batch.append(item)
            rows += len(item.rows)
        return batch

    async def _collect(self) -> None:
        while True:
            first = self._carry if self._carry is not None else await self._queue.get()
            self._carry = None
            self._in_hand = 1
            if self.slots is not None:
                await self.slots.acquire()
            idle = self.idle_dispatch and self.slots is not None and self.slots.in_use == 1
            try:
                batch = await self._fill(first, wait=not idle)
            finally:
                self._in_hand = 0
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[Pending]) -> None:
        try:
            results = await self.run_batch(np.vstack([p.rows for p in batch]), batch)
        except Exception as exc:  # noqa: BLE001 - every waiter gets the batch's error
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        finally:
            if self.slots is not None:
                self.slots.release()
        for p, result in zip(batch, results, strict=True):
            if not p.future.done():
                p.future.set_result(result)
