"""The control loop: observe each pool, decide (policy.decide), act.

Scale-up: start a replica (a real model-server process), wait until its /healthz says warm,
send it warm-up inferences, and only then release its registration: the gateway finds it in
the registry like any other server. Scale-down: deregister first, let the gateway's registry
cache move on and the replica's queue drain, then stop it by pid. The process, the HTTP calls,
the clock and the sleep are parameters (fakes in unit tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from chaosctl.services.autoscaler.config import POOLS, AutoscalerConfig, replica_slots, static_servers
from chaosctl.services.autoscaler.metrics import AutoscalerMetrics
from chaosctl.services.autoscaler.policy import Bounds, Decision, PoolView, ServerLoad, decide, idle
from chaosctl.services.autoscaler.replicas import Launcher, ReplicaProc

log = logging.getLogger("chaosctl.autoscaler")


class ReplicaApi(Protocol):
    """The HTTP side of servers and replicas (the model server's own routes)."""

    async def load(self, name: str) -> ServerLoad: ...

    async def warm(self, name: str) -> bool: ...  # /healthz 200: models loaded and device warm

    async def warm_up(self, name: str, requests: int) -> None: ...  # raises when an inference fails

    async def register(self, name: str) -> bool: ...

    async def deregister(self, name: str) -> None: ...


@dataclass
class Replica:
    name: str
    pool: str
    decided_at: float
    state: str = "starting"  # starting -> ready -> draining
    proc: ReplicaProc | None = None
    started_at: float | None = None
    ready_at: float | None = None


@dataclass
class Controller:
    config: AutoscalerConfig
    launcher: Launcher
    api: ReplicaApi
    metrics: AutoscalerMetrics
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    enabled: bool = True
    replicas: dict[str, Replica] = field(default_factory=dict)
    last_event: dict[str, float] = field(default_factory=dict)
    last_decision: dict[str, Decision] = field(default_factory=dict)
    idle_since: dict[str, float] = field(default_factory=dict)  # per pool: first round of the current idle run
    idle_members: dict[str, frozenset[str]] = field(default_factory=dict)  # per pool: the servers of that run
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Servers that answered at least once. `up` starts the autoscaler without waiting for the model
    # servers, so a server not yet seen is starting, not lost: no scale decision on it until it
    # answered once or `startup_grace_s` passed (then, unreachable, it counts as down).
    seen: set[str] = field(default_factory=set)
    started_at: float | None = None
    misses: dict[str, int] = field(default_factory=dict)  # server -> /v1/load failures in a row

    # -- one round ---------------------------------------------------------------

    async def tick(self) -> None:
        if self.started_at is None:
            self.started_at = self.clock()
        for pool in POOLS:
            await self._prune(pool)
            view = await self.view(pool)
            self.seen.update(s.name for s in view.loads if s.reachable)
            decision = self._starting(pool, decide(view, self.config.policies[pool], self.clock()))
            if not self.enabled and decision.action != "hold":
                decision = Decision("hold", f"disabled (would scale {decision.action}: {decision.reason})", view.replicas)
            self.last_decision[pool] = decision
            self._act(pool, decision)
            self._gauges(pool, decision)

    async def view(self, pool: str) -> PoolView:
        mine = [r for r in self.replicas.values() if r.pool == pool and r.state != "draining"]
        names = (*static_servers(pool), *(r.name for r in mine if r.state == "ready"))
        loads = self._confirmed(await asyncio.gather(*(self.api.load(n) for n in names)))
        warming = sum(1 for r in mine if r.state == "starting")
        members = frozenset(s.name for s in loads)
        if not idle(loads, self.config.policies[pool]) or members != self.idle_members.get(pool):
            self.idle_since.pop(pool, None)  # a replica that just joined was not part of the idle run
        if idle(loads, self.config.policies[pool]):
            self.idle_since.setdefault(pool, self.clock())
        self.idle_members[pool] = members
        return PoolView(pool, loads, len(mine), warming, self.last_event.get(pool), self.idle_since.get(pool))

    def _confirmed(self, loads: list[ServerLoad]) -> tuple[ServerLoad, ...]:
        """The loads, minus servers unreachable for fewer than `unreachable_after` rounds in a row
        (not known lost yet: they count neither as down nor as idle)."""
        kept = []
        for load in loads:
            self.misses[load.name] = 0 if load.reachable else self.misses.get(load.name, 0) + 1
            if load.reachable or self.misses[load.name] >= self.config.unreachable_after:
                kept.append(load)
        return tuple(kept)

    def _starting(self, pool: str, decision: Decision) -> Decision:
        """A scale-up on pressure waits until the pool's servers answered once (bounds do not)."""
        unseen = [n for n in static_servers(pool) if n not in self.seen]
        if decision.action != "up" or decision.cause == "below_min" or not unseen:
            return decision
        if self.clock() - (self.started_at or 0.0) >= self.config.startup_grace_s:
            return decision
        return Decision("hold", f"waiting for {', '.join(unseen)} to answer once (starting up)", decision.desired - 1)

    def _act(self, pool: str, decision: Decision) -> None:
        if decision.action == "hold":
            return
        if decision.action == "up":
            slot = self._free_slot(pool)
            if slot is None:
                return
            replica = Replica(slot, pool, self.clock())
            self.replicas[slot] = replica
            self._spawn(self.bring_up(replica))
        else:
            replica = self._victim(pool)
            if replica is None:
                return
            replica.state = "draining"
            self._spawn(self.take_down(replica))
        self.last_event[pool] = self.clock()
        self.metrics.decision(pool, decision.action, decision.cause, decision.reason, decision.desired)
        log.info("%s: scale %s to %d: %s", pool, decision.action, decision.desired, decision.reason)

    def _free_slot(self, pool: str) -> str | None:
        return next((s for s in replica_slots(pool) if s not in self.replicas), None)

    def _victim(self, pool: str) -> Replica | None:
        """A replica still warming carries no traffic: it goes first; else the newest ready one."""
        mine = [r for r in self.replicas.values() if r.pool == pool and r.state != "draining"]
        starting = [r for r in mine if r.state == "starting"]
        if starting:
            return starting[-1]
        return max(mine, key=lambda r: r.ready_at or 0.0, default=None)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _gauges(self, pool: str, decision: Decision) -> None:
        mine = [r for r in self.replicas.values() if r.pool == pool]
        self.metrics.desired.labels(pool).set(decision.desired)
        self.metrics.ready.labels(pool).set(sum(1 for r in mine if r.state == "ready"))
        self.metrics.warming.labels(pool).set(sum(1 for r in mine if r.state == "starting"))
        self.metrics.enabled.set(1 if self.enabled else 0)

    async def _prune(self, pool: str) -> None:
        """A ready replica whose process died is deregistered and forgotten (counted as a failure)."""
        for r in [r for r in self.replicas.values() if r.pool == pool and r.state == "ready"]:
            if r.proc is not None and not self.launcher.alive(r.proc):
                log.warning("%s exited; deregistering it", r.name)
                self.replicas.pop(r.name, None)
                self.metrics.failures.labels(pool).inc()
                await self.api.deregister(r.name)
                self.launcher.stop(r.proc)

    # -- scale-up and scale-down -----------------------------------------------

    async def bring_up(self, replica: Replica) -> None:
        """Start, wait warm, warm-up inferences, then register: never traffic before warm."""
        with self.metrics.tracer.start_as_current_span("autoscaler replica warm-up") as span:
            span.set_attribute("autoscaler.replica", replica.name)
            try:
                replica.proc = await asyncio.to_thread(self.launcher.start, replica.name)
                replica.started_at = self.clock()
                span.add_event("replica.started", {"pid": replica.proc.pid})
                await self._until_warm(replica)
                span.add_event("replica.warm")
                await self.api.warm_up(replica.name, self.config.warmup_requests)
                span.add_event("replica.warm_up_done", {"requests": self.config.warmup_requests})
                _still_wanted(replica)
                if not await self.api.register(replica.name):
                    raise RuntimeError("registration refused")
            except _Unwanted:
                span.add_event("replica.unwanted")
                await self._discard(replica)
                return
            except Exception as exc:  # noqa: BLE001 - any failure: stop it, count it, keep running
                span.add_event("replica.failed", {"error": f"{type(exc).__name__}: {exc}"})
                await self._fail(replica, f"{type(exc).__name__}: {exc}")
                return
            self._ready(replica)
            span.add_event("replica.registered")

    async def _until_warm(self, replica: Replica) -> None:
        deadline = self.clock() + self.config.warmup_timeout_s
        while not await self.api.warm(replica.name):
            _still_wanted(replica)
            if replica.proc is not None and not self.launcher.alive(replica.proc):
                raise RuntimeError("the replica process exited while warming up")
            if self.clock() >= deadline:
                raise TimeoutError(f"not warm after {self.config.warmup_timeout_s:.0f} s")
            await self.sleep(0.25)

    def _ready(self, replica: Replica) -> None:
        now = self.clock()
        replica.state, replica.ready_at = "ready", now
        self.metrics.warmup.labels(replica.pool).observe(now - (replica.started_at or replica.decided_at))
        self.metrics.last_scale_up.labels(replica.pool).set(now - replica.decided_at)
        log.info("%s ready %.1f s after the decision", replica.name, now - replica.decided_at)

    async def _fail(self, replica: Replica, why: str) -> None:
        log.warning("%s failed to come up: %s", replica.name, why)
        self.metrics.failures.labels(replica.pool).inc()
        self.metrics.events.labels(replica.pool, "down", "failed").inc()
        await self._discard(replica)

    async def _discard(self, replica: Replica) -> None:
        if replica.proc is not None:
            await asyncio.to_thread(self.launcher.stop, replica.proc)
        self.replicas.pop(replica.name, None)

    async def take_down(self, replica: Replica) -> None:
        """Deregister, drain (the gateway's cache moves on, the queue empties), then stop by pid.
        A replica still warming up was never registered: its bring-up stops it at its next step."""
        if replica.ready_at is None:
            return
        with self.metrics.tracer.start_as_current_span("autoscaler replica drain") as span:
            span.set_attribute("autoscaler.replica", replica.name)
            await self.api.deregister(replica.name)
            span.add_event("replica.deregistered")
            await self._drain(replica)
            span.add_event("replica.drained")
            if replica.proc is not None:
                await asyncio.to_thread(self.launcher.stop, replica.proc)
            span.add_event("replica.stopped")
            self.replicas.pop(replica.name, None)

    async def _drain(self, replica: Replica) -> None:
        await self.sleep(self.config.drain_s)
        deadline = self.clock() + self.config.drain_timeout_s
        while self.clock() < deadline:
            load = await self.api.load(replica.name)
            if not load.reachable or load.queue_depth == 0:
                return
            await self.sleep(0.25)

    # -- admin -------------------------------------------------------------------

    def set_bounds(self, pool: str, bounds: Bounds) -> None:
        self.config.policies[pool] = replace(self.config.policies[pool], bounds=bounds)

    async def close(self) -> None:
        """At shutdown: stop every replica (deregistered first); none outlives its autoscaler."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for replica in list(self.replicas.values()):
            await self.api.deregister(replica.name)
            if replica.proc is not None:
                await asyncio.to_thread(self.launcher.stop, replica.proc)
            self.replicas.pop(replica.name, None)


class _Unwanted(Exception):
    """A scale-down chose this replica while it was still warming up."""


def _still_wanted(replica: Replica) -> None:
    if replica.state == "draining":
        raise _Unwanted(replica.name)
