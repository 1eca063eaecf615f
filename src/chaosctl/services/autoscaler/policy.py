"""The autoscaler's decision: pure, on what the pool's servers reported and a clock reading.

One decision per pool per tick: scale up by one when the pool is under pressure (queue depth or
device utilisation high, or servers saturated/unhealthy/unreachable), down by one when every
server has been idle for a stabilization window; always within the pool's bounds, and never
inside a cooldown. A replica still warming up counts as capacity on its way: no second scale-up
on the same pressure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["up", "down", "hold"]


@dataclass(frozen=True)
class Bounds:
    min: int = 0
    max: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.min <= self.max:
            raise ValueError(f"bounds need 0 <= min <= max, got min={self.min} max={self.max}")


@dataclass(frozen=True)
class PoolPolicy:
    bounds: Bounds = Bounds()
    queue_high: float = 8.0  # mean queue depth per usable server that asks for more capacity
    utilization_high: float = 0.85
    # Share of servers hot (saturated, unhealthy, unreachable) that asks for more: every one, by
    # default. One full or lost server is the gateway's to route around (what the gpu-exhaustion
    # and gpu-faults scenarios test); a pool with no usable server left needs capacity.
    hot_share: float = 1.0
    queue_low: float = 0.5  # scale down only below these on every server
    utilization_low: float = 0.3
    up_cooldown_s: float = 10.0  # after any scale event
    down_cooldown_s: float = 30.0  # after any scale event (a spike's tail must not shrink the pool at once)
    # Idle must hold this long, unbroken, before a scale-down (Kubernetes HPA's scale-down stabilization
    # window). One idle reading is not enough: a chaos run's phase boundary reverts and re-injects its
    # faults within ~0.1 s, and a single round in that gap saw every server free and removed the replica
    # that was carrying the pool's traffic.
    down_stabilization_s: float = 10.0


@dataclass(frozen=True)
class ServerLoad:
    """One server's report (its /v1/load), or an unreachable one."""

    name: str
    reachable: bool = True
    health: str = "ready"
    queue_depth: int = 0
    utilization: float = 0.0

    @property
    def hot(self) -> bool:
        return not self.reachable or self.health in ("saturated", "unhealthy")


@dataclass(frozen=True)
class PoolView:
    """The pool as the controller sees it now: its servers' loads (static servers and ready
    replicas), and how many replicas it runs or is starting."""

    pool: str
    loads: tuple[ServerLoad, ...]
    replicas: int  # ready + warming + starting (draining ones are on their way out)
    warming: int = 0
    last_event_at: float | None = None  # monotonic time of the last scale-up or scale-down
    idle_since: float | None = None  # monotonic time since when every round found the pool idle (None: not idle now)


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    desired: int
    cause: str = ""  # a bounded label value (metrics.CAUSES); the reason says it in words


def decide(view: PoolView, policy: PoolPolicy, now: float) -> Decision:
    bounds, n = policy.bounds, view.replicas
    if n < bounds.min:
        return Decision("up", f"below min ({n} < {bounds.min})", n + 1, "below_min")
    if n > bounds.max:
        return Decision("down", f"above max ({n} > {bounds.max})", n - 1, "above_max")
    since = None if view.last_event_at is None else now - view.last_event_at
    cause, pressure = _pressure(view.loads, policy)
    if pressure:
        if view.warming:
            return Decision("hold", f"{pressure}; {view.warming} replica(s) warming up", n)
        if n >= bounds.max:
            return Decision("hold", f"{pressure}; at max ({bounds.max})", n)
        if since is not None and since < policy.up_cooldown_s:
            return Decision("hold", f"{pressure}; scale-up cooldown ({since:.1f} of {policy.up_cooldown_s:.0f} s)", n)
        return Decision("up", pressure, n + 1, cause)
    if n > bounds.min and idle(view.loads, policy):
        if since is not None and since < policy.down_cooldown_s:
            return Decision("hold", f"idle; scale-down cooldown ({since:.1f} of {policy.down_cooldown_s:.0f} s)", n)
        idle_for = 0.0 if view.idle_since is None else now - view.idle_since
        if idle_for < policy.down_stabilization_s:
            return Decision("hold", f"idle for {idle_for:.1f} of {policy.down_stabilization_s:.0f} s", n)
        return Decision("down", f"idle for {idle_for:.0f} s", n - 1, "idle")
    return Decision("hold", "within thresholds", n)


def _pressure(loads: tuple[ServerLoad, ...], policy: PoolPolicy) -> tuple[str, str]:
    """(cause, reason) of the pool needing more capacity; ('', '') when it does not."""
    if not loads:
        return "", ""
    hot = [s.name for s in loads if s.hot]
    if len(hot) / len(loads) >= policy.hot_share:
        return "saturated", f"{len(hot)} of {len(loads)} servers saturated or down ({', '.join(hot)})"
    usable = [s for s in loads if not s.hot]
    queue = sum(s.queue_depth for s in usable) / len(usable)
    if queue >= policy.queue_high:
        return "queue_depth", f"queue depth {queue:.1f} per server >= {policy.queue_high:g}"
    util = sum(s.utilization for s in usable) / len(usable)
    if util >= policy.utilization_high:
        return "utilization", f"device utilisation {util:.0%} >= {policy.utilization_high:.0%}"
    return "", ""


def idle(loads: tuple[ServerLoad, ...], policy: PoolPolicy) -> bool:
    """Every server reachable, healthy and under both low-water marks (one round's reading)."""
    return bool(loads) and all(
        not s.hot and s.queue_depth <= policy.queue_low and s.utilization <= policy.utilization_low for s in loads
    )
