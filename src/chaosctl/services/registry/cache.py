"""Watch-based record cache: discovery answers from memory while that is provably fresh.

One member is read (range at revision R) and watched from R+1; every change under
the prefix (registrations, heartbeats, deregistrations, lease expiries) arrives as
an event. The snapshot is used only while
  * the watch stream is live, and
  * a linearizable read on *that same member* succeeded within `max_staleness_s`
    (a member cut off from the quorum fails it, so a partitioned member's quiet
    stream is never mistaken for "nothing changed"), and
  * it has caught up with this registry's own latest write (read-your-writes).
Otherwise discovery reads etcd directly (with member failover), exactly as without
the cache; so losing quorum still surfaces as 503 within ~`max_staleness_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from chaosctl.services.registry.etcd import EtcdClient, EtcdError, KeyValue
from chaosctl.services.registry.records import Record

log = logging.getLogger("chaosctl.registry.cache")


class WatchCache:
    def __init__(
        self,
        etcd: EtcdClient,
        prefix: str,
        *,
        confirm_every_s: float = 0.5,
        max_staleness_s: float = 1.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.etcd = etcd
        self.prefix = prefix
        self.confirm_every_s = confirm_every_s
        self.max_staleness_s = max_staleness_s
        self._clock = clock
        self._records: dict[str, Record] = {}
        self.revision = 0
        self.member: int | None = None  # the member being watched, while the stream is live
        self._confirmed_at = float("-inf")
        self._updated = asyncio.Event()

    # -- reading ------------------------------------------------------------------

    def fresh(self) -> bool:
        live = self.member is not None and self._clock() - self._confirmed_at <= self.max_staleness_s
        return live and self.revision >= self.etcd.last_write_revision

    async def snapshot(self, wait_s: float = 0.05) -> list[Record] | None:
        """The cached records if fresh (waiting up to `wait_s` for our own last write); else None."""
        deadline = self._clock() + wait_s
        while not self.fresh():
            if self.member is None or self._clock() >= deadline:
                return None
            self._updated.clear()
            try:
                await asyncio.wait_for(self._updated.wait(), max(0.001, deadline - self._clock()))
            except TimeoutError:
                return None
        return list(self._records.values())

    # -- keeping it up to date ----------------------------------------------------

    async def run(self) -> None:
        await asyncio.gather(self._watch_forever(), self._confirm_forever())

    async def _watch_forever(self) -> None:
        attempt = 0
        while True:
            member = (self.etcd.endpoints.index(self.etcd.current) + attempt) % len(self.etcd.endpoints)
            try:
                await self._watch(member)
            except (EtcdError, httpx.HTTPError, ValueError) as exc:
                log.info("watch on %s ended: %s", self.etcd.endpoints[member], exc)
            except Exception:  # noqa: BLE001 - the cache is an optimisation: it must never stop for good
                log.exception("watch on %s failed", self.etcd.endpoints[member])
            finally:
                self.member = None
            attempt += 1  # next time, start with another member
            await asyncio.sleep(0.1)

    async def _watch(self, member: int) -> None:
        kvs, revision = await self.etcd.range_rev(self.prefix, member=member)
        records = {kv.key: rec for kv in kvs if (rec := _parse(kv)) is not None}
        async for batch in self.etcd.watch(self.prefix, revision + 1, member):
            if batch.created:
                self._records, self.revision, self.member = records, revision, member
                self._confirmed_at = self._clock()
            for kv in batch.puts:
                rec = _parse(kv)
                if rec is not None:
                    self._records[kv.key] = rec
            for key in batch.deletes:
                self._records.pop(key, None)
            if not batch.created:  # the creation header may be ahead of events still to come
                self.revision = max(self.revision, batch.revision)
            self._updated.set()

    async def _confirm_forever(self) -> None:
        while True:
            member = self.member
            if member is not None:
                try:
                    _kvs, revision = await self.etcd.range_rev(self.prefix, limit=1, member=member)
                except (EtcdError, httpx.HTTPError):
                    pass  # not confirmed: the snapshot goes stale and discovery reads etcd
                else:
                    if member == self.member:
                        self._confirmed_at = self._clock()
            await asyncio.sleep(self.confirm_every_s)


def _parse(kv: KeyValue) -> Record | None:
    try:
        return Record.model_validate_json(kv.value)
    except ValueError:
        return None
