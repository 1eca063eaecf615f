"""WatchCache over a hand-written fake etcd client: freshness rules, events, read-your-writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from chaosctl.services.registry.cache import WatchCache
from chaosctl.services.registry.etcd import EtcdError, KeyValue, WatchBatch
from chaosctl.services.registry.records import Record, RecordIn

PREFIX = "/p/"


def _kv(name: str, rev: int) -> KeyValue:
    rec = Record.from_in(RecordIn(name=name, capability="c", model="m", version="1.0.0", device="gpu",
                                  p99_ms=1, endpoint="http://127.0.0.1:1"))  # fmt: skip
    return KeyValue(PREFIX + rec.id, rec.model_dump_json().encode(), 0, rev)


class FakeEtcd:
    def __init__(self) -> None:
        self.endpoints = ("http://a", "http://b")
        self.current = "http://a"
        self.last_write_revision = 0
        self.events: asyncio.Queue[WatchBatch] = asyncio.Queue()
        self.reads_fail = False
        self.kvs = [_kv("s1", 5)]

    async def range_rev(self, key: str, *, limit: int = 0, member: int | None = None, exact: bool = False):
        if self.reads_fail:
            raise EtcdError("no quorum")
        return list(self.kvs), 5

    async def watch(self, prefix: str, start: int, member: int) -> AsyncIterator[WatchBatch]:
        assert start == 6
        yield WatchBatch(5, (), (), True)
        while True:
            yield await self.events.get()


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


async def _started(etcd: FakeEtcd, clock: Clock) -> tuple[WatchCache, asyncio.Task]:
    cache = WatchCache(etcd, PREFIX, confirm_every_s=0.01, max_staleness_s=1.0, clock=clock)  # type: ignore[arg-type]
    task = asyncio.create_task(cache.run())
    for _ in range(100):
        if cache.member is not None:
            break
        await asyncio.sleep(0.005)
    return cache, task


def test_snapshot_follows_events_and_goes_stale_without_confirmation() -> None:
    async def go() -> None:
        etcd, clock = FakeEtcd(), Clock()
        cache, task = await _started(etcd, clock)
        assert [r.name for r in await cache.snapshot()] == ["s1"]  # type: ignore[union-attr]
        await etcd.events.put(WatchBatch(6, (_kv("s2", 6),), (), False))
        await etcd.events.put(WatchBatch(7, (), (PREFIX + "s1--m--1.0.0",), False))
        await asyncio.sleep(0.02)
        assert [r.name for r in await cache.snapshot()] == ["s2"]  # type: ignore[union-attr]
        etcd.reads_fail = True  # the watched member lost quorum: confirmations stop
        clock.now += 1.5
        await asyncio.sleep(0.03)
        assert await cache.snapshot() is None
        etcd.reads_fail = False
        await asyncio.sleep(0.03)
        assert await cache.snapshot() is not None
        task.cancel()

    asyncio.run(go())


def test_own_write_not_yet_seen_waits_then_falls_back() -> None:
    async def go() -> None:
        etcd, clock = FakeEtcd(), Clock()
        cache, task = await _started(etcd, clock)
        etcd.last_write_revision = 9  # we just wrote at revision 9; the watch has not delivered it
        assert await cache.snapshot(wait_s=0.0) is None
        waiter = asyncio.create_task(cache.snapshot(wait_s=5.0))
        await asyncio.sleep(0.01)
        clock.now += 0.001
        await etcd.events.put(WatchBatch(9, (_kv("s9", 9),), (), False))
        got = await asyncio.wait_for(waiter, 2.0)
        assert got is not None and {r.name for r in got} == {"s1", "s9"}
        task.cancel()

    asyncio.run(go())
