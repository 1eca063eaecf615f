"""Client-side cache of registry answers.

An answer younger than `refresh_s` is served without asking the registry (hit).
Older, the registry is asked (miss), once per key at a time: while one request
waits for it the others are answered from the cache. If it cannot answer, the cached answer is
served while it is younger than `ttl_s` (stale) so that a registry outage is
ridden out. Past `ttl_s` the outage surfaces (RegistryUnavailable). The short
refresh keeps the load figures used for balancing recent; the TTL bounds how
old an answer may ever be.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
Result = Literal["hit", "miss", "stale"]


class RegistryUnavailable(Exception):
    """The registry cannot answer and no cached answer is young enough."""


@dataclass(frozen=True)
class CacheConfig:
    refresh_s: float = 2.0
    ttl_s: float = 30.0
    # Bounds memory when clients ask for many (unknown) models.
    max_entries: int = 1024


@dataclass(frozen=True)
class Cached(Generic[T]):
    value: T
    result: Result
    age_s: float


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    fetched_at: float


class TTLCache(Generic[T]):
    def __init__(
        self,
        fetch: Callable[[str], Awaitable[T]],
        config: CacheConfig = CacheConfig(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`fetch(key)` asks the registry; any exception means it could not answer."""
        self._fetch = fetch
        self.config = config
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}
        self._inflight: dict[str, asyncio.Future[T]] = {}  # one registry call per key at a time

    async def get(self, key: str) -> Cached[T]:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry.fetched_at < self.config.refresh_s:
            return Cached(entry.value, "hit", now - entry.fetched_at)
        shared = self._inflight.get(key)
        if shared is not None and entry is not None and now - entry.fetched_at < self.config.ttl_s:
            # Another request is already asking the registry: answer from the cache now,
            # so that a slow registry delays one request per refresh, not all of them.
            return Cached(entry.value, "hit", now - entry.fetched_at)
        task = shared if shared is not None else self._start_refresh(key)
        try:
            value = await asyncio.shield(task)  # a cancelled request must not cancel the shared fetch
        except Exception as exc:  # noqa: BLE001 - any failure to answer is an outage here
            return self._stale_or_raise(key, exc)
        return Cached(value, "miss" if shared is None else "hit", self._clock() - self._entries[key].fetched_at)

    def _start_refresh(self, key: str) -> asyncio.Future[T]:
        task = asyncio.ensure_future(self._refresh(key))
        self._inflight[key] = task
        task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return task

    async def _refresh(self, key: str) -> T:
        value = await self._fetch(key)
        if key not in self._entries and len(self._entries) >= self.config.max_entries:
            oldest = min(self._entries, key=lambda k: self._entries[k].fetched_at)
            del self._entries[oldest]
        self._entries[key] = _Entry(value, self._clock())
        return value

    def _stale_or_raise(self, key: str, exc: Exception) -> Cached[T]:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry.fetched_at < self.config.ttl_s:
            return Cached(entry.value, "stale", now - entry.fetched_at)
        if entry is not None:
            del self._entries[key]  # past its TTL: never serve it again
        raise RegistryUnavailable(f"registry unavailable and no answer younger than {self.config.ttl_s:g}s: {exc}") from exc
