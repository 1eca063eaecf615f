"""The autoscaler's pools: which servers each one watches and its default policy."""

from __future__ import annotations

from dataclasses import dataclass, field

from chaosctl.services.autoscaler.policy import Bounds, PoolPolicy
from chaosctl.stack.topology import MODEL_SERVERS, REPLICAS

POOLS = ("gpu", "cpu")


@dataclass(frozen=True)
class AutoscalerConfig:
    # GPU replicas are cheap here (simulated devices); CPU ones compete for the host's cores.
    policies: dict[str, PoolPolicy] = field(default_factory=lambda: {
        "gpu": PoolPolicy(bounds=Bounds(0, 2)), "cpu": PoolPolicy(bounds=Bounds(0, 1)),
    })  # fmt: skip
    interval_s: float = 1.0  # one observation and decision round per pool
    warmup_requests: int = 4  # inferences per model a replica answers before it registers
    warmup_timeout_s: float = 90.0  # start to warm, else the replica is stopped and counted as failed
    drain_s: float = 3.0  # after deregistering: the gateway's registry cache refreshes every 2 s
    drain_timeout_s: float = 15.0
    load_timeout_s: float = 1.0
    # Rounds in a row a server must fail to answer /v1/load before it counts as down (a readiness
    # probe's failure threshold): on a starved host one poll past its 1 s timeout is common, and
    # taking it for a lost server started replicas that starved the host further.
    unreachable_after: int = 3
    startup_grace_s: float = 180.0  # a static server not seen since the start counts as down only after this


def static_servers(pool: str) -> tuple[str, ...]:
    return tuple(m.name for m in MODEL_SERVERS if m.device == pool)


def replica_slots(pool: str) -> tuple[str, ...]:
    return tuple(r.name for r in REPLICAS if r.device == pool)
