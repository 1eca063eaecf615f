"""Registry records in etcd: one key per record under a prefix, attached to a lease.

A record disappears when its server stops heartbeating: etcd deletes every key of
an expired lease. A heartbeat is a lease keepalive plus, when health or load
changed, a put of the updated record on the same lease.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaosctl.services.registry.cache import WatchCache
from chaosctl.services.registry.etcd import EtcdClient, LeaseNotFound
from chaosctl.services.registry.records import Heartbeat, Record, RecordIn

PREFIX = "/chaosctl/services/"


class RecordNotFound(LookupError):
    """No live record with that id (never registered, deregistered or lease expired)."""


@dataclass(frozen=True)
class Registration:
    id: str
    lease_id: int
    ttl: int


class RegistryStore:
    def __init__(self, etcd: EtcdClient, prefix: str = PREFIX, cache: WatchCache | None = None) -> None:
        self.etcd = etcd
        self.prefix = prefix
        self.cache = cache

    def _key(self, record_id: str) -> str:
        return self.prefix + record_id

    async def register(self, rec: RecordIn) -> Registration:
        """Store the record under a fresh lease; the old one of the same id, if any, is revoked."""
        record = Record.from_in(rec)
        previous = await self.etcd.get(self._key(record.id))
        lease = await self.etcd.lease_grant(rec.ttl)
        await self.etcd.put(self._key(record.id), record.model_dump_json().encode(), lease)
        if previous is not None and previous.lease and previous.lease != lease:
            await self.etcd.lease_revoke(previous.lease)
        return Registration(record.id, lease, rec.ttl)

    async def heartbeat(self, record_id: str, hb: Heartbeat) -> int:
        """Keep the record alive (and update health/load); its TTL. RecordNotFound when expired."""
        kv = await self.etcd.get(self._key(record_id))
        if kv is None or not kv.lease:
            raise RecordNotFound(record_id)
        try:
            ttl = await self.etcd.lease_keepalive(kv.lease)
        except LeaseNotFound as exc:
            raise RecordNotFound(record_id) from exc
        record = Record.model_validate_json(kv.value)
        updated = record.model_copy(
            update={
                "health": hb.health if hb.health is not None else record.health,
                "load": hb.load if hb.load is not None else record.load,
            }
        )
        if _significant(record, updated):
            try:
                await self.etcd.put(self._key(record_id), updated.model_dump_json().encode(), kv.lease)
            except LeaseNotFound as exc:  # expired between keepalive and put
                raise RecordNotFound(record_id) from exc
        return ttl

    async def deregister(self, record_id: str) -> bool:
        kv = await self.etcd.get(self._key(record_id))
        if kv is None:
            return False
        if kv.lease:
            await self.etcd.lease_revoke(kv.lease)  # deletes the key with it
        await self.etcd.delete(self._key(record_id))
        return True

    async def records(self) -> tuple[list[Record], str]:
        """Every live record, and where they came from: "cache" (fresh watch snapshot) or "etcd"."""
        if self.cache is not None:
            cached = await self.cache.snapshot()
            if cached is not None:
                return cached, "cache"
        return await self._read_records(), "etcd"

    async def _read_records(self) -> list[Record]:
        kvs = await self.etcd.range(self.prefix)
        out: list[Record] = []
        for kv in kvs:
            try:
                out.append(Record.model_validate_json(kv.value))
            except ValueError:
                continue  # a foreign or corrupt value under our prefix is not a service
        return out

    async def ping(self) -> None:
        """One linearizable read: proves a member is reachable and the cluster has quorum."""
        await self.etcd.range(self.prefix, limit=1)


def _significant(old: Record, new: Record) -> bool:
    """Worth a write? Health or queue changes always; utilisation/memory only by a noticeable step.

    Every put is a new etcd revision (and a watch event); rewriting each heartbeat's
    jitter would grow the store and the watch traffic for no reader's benefit.
    """
    if old.health != new.health or old.load.queue_depth != new.load.queue_depth:
        return True
    total = max(new.load.memory_total_bytes, 1)
    return (
        abs(old.load.utilization - new.load.utilization) >= 0.05
        or abs(old.load.memory_used_bytes - new.load.memory_used_bytes) / total >= 0.01
        or old.load.memory_total_bytes != new.load.memory_total_bytes
    )
