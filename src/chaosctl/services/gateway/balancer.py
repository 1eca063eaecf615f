"""GPU-aware balancing: the least-loaded ready GPU server first, the CPU pool as fallback.

Load comes from the registry records (queue depth and device memory reported by
each server's heartbeat) plus the gateway's own in-flight count per server, which
reacts faster than the heartbeat. Warming, saturated or unhealthy servers and
servers whose breaker is open are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from chaosctl.services.gateway.records import ServiceRecord


@dataclass(frozen=True)
class BalancerConfig:
    # A server reporting at least this fraction of device memory used is saturated.
    memory_saturation: float = 0.90
    # A server with this many queued requests (reported + own in-flight) is saturated.
    max_queue: float = 64.0


@dataclass(frozen=True)
class Candidate:
    record: ServiceRecord
    score: tuple[float, float, str]

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def is_gpu(self) -> bool:
        return self.record.is_gpu


@dataclass(frozen=True)
class Skip:
    name: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Servers for one version, best first: GPU servers, then the CPU pool."""

    gpu: tuple[Candidate, ...]
    cpu: tuple[Candidate, ...]
    skipped: tuple[Skip, ...]

    @property
    def ordered(self) -> tuple[Candidate, ...]:
        return self.gpu + self.cpu


class Balancer:
    def __init__(self, config: BalancerConfig = BalancerConfig()) -> None:
        self.config = config

    def skip_reason(self, record: ServiceRecord, inflight: int, breaker_open: bool) -> str | None:
        if record.health != "ready":
            return record.health  # warming / saturated / unhealthy
        if record.load.memory_fraction >= self.config.memory_saturation:
            return "memory saturated"
        if record.load.queue_depth + inflight >= self.config.max_queue:
            return "queue saturated"
        if breaker_open:
            return "breaker open"
        return None

    def plan(
        self,
        records: Iterable[ServiceRecord],
        inflight: Mapping[str, int],
        breaker_open: Callable[[str], bool],
    ) -> Plan:
        gpu: list[Candidate] = []
        cpu: list[Candidate] = []
        skipped: list[Skip] = []
        for record in records:
            own = inflight.get(record.name, 0)
            reason = self.skip_reason(record, own, breaker_open(record.name))
            if reason is not None:
                skipped.append(Skip(record.name, reason))
                continue
            score = (record.load.queue_depth + own, record.load.memory_fraction, record.name)
            (gpu if record.is_gpu else cpu).append(Candidate(record, score))
        return Plan(
            gpu=tuple(sorted(gpu, key=lambda c: c.score)),
            cpu=tuple(sorted(cpu, key=lambda c: c.score)),
            skipped=tuple(skipped),
        )
