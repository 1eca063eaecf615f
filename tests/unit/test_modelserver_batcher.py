"""DynamicBatcher on its own: window, max rows, carry-over, growth while the device is busy, errors."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from chaosctl.services.modelserver.batcher import DynamicBatcher, Pending, Slots


class Recorder:
    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, rows: np.ndarray, batch: list[Pending]) -> list[int]:
        self.batches.append(len(rows))
        await self.gate.wait()
        return [len(rows)] * len(batch)


def _row() -> np.ndarray:
    return np.zeros((1, 4))


def test_batches_grow_while_the_only_slot_is_busy() -> None:
    async def go() -> list[int]:
        rec = Recorder()
        batcher = DynamicBatcher(rec.run, max_rows=32, window_s=0.001, slots=Slots(1))
        rec.gate.clear()
        first = asyncio.create_task(batcher.submit(_row()))
        await asyncio.sleep(0.01)  # the first batch (1 row) now holds the slot
        rest = []
        for _ in range(10):  # arriving 5 ms apart: each alone in its 1 ms window
            rest.append(asyncio.create_task(batcher.submit(_row())))
            await asyncio.sleep(0.005)
        assert batcher.waiting == 10  # queued behind the busy slot, not 10 batches of 1
        rec.gate.set()
        await asyncio.gather(first, *rest)
        await batcher.close()
        return rec.batches

    assert asyncio.run(go()) == [1, 10]


def test_full_batch_carries_the_overflowing_request_to_the_next() -> None:
    async def go() -> list[int]:
        rec = Recorder()
        batcher = DynamicBatcher(rec.run, max_rows=5, window_s=0.02)
        sizes = [2, 2, 3, 1]
        await asyncio.gather(*(batcher.submit(np.zeros((n, 4))) for n in sizes))
        await batcher.close()
        return rec.batches

    assert asyncio.run(go()) == [4, 4]


def test_a_failing_batch_fails_each_of_its_requests() -> None:
    async def boom(rows: np.ndarray, batch: list[Pending]) -> list[int]:
        raise RuntimeError("device lost")

    async def go() -> None:
        batcher = DynamicBatcher(boom, window_s=0.01)
        results = await asyncio.gather(*(batcher.submit(_row()) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        await batcher.close()

    asyncio.run(go())
    with pytest.raises(RuntimeError):
        asyncio.run(boom(_row(), []))


@pytest.mark.parametrize(("idle_dispatch", "waits"), [(True, False), (False, True)])
def test_an_idle_device_does_not_wait_for_the_window(idle_dispatch: bool, waits: bool) -> None:
    async def go() -> float:
        rec = Recorder()
        batcher = DynamicBatcher(rec.run, window_s=0.3, slots=Slots(2), idle_dispatch=idle_dispatch)
        t0 = time.perf_counter()
        await batcher.submit(_row())
        elapsed = time.perf_counter() - t0
        await batcher.close()
        return elapsed

    elapsed = asyncio.run(go())
    assert (elapsed >= 0.3) if waits else (elapsed < 0.15), elapsed
