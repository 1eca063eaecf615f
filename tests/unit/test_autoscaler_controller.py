"""The autoscaler's control loop (services/autoscaler/controller.py) with a fake clock, fake
processes and fake model servers: warm-up gates registration, scale-down drains in order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from chaosctl.services.autoscaler.config import POOLS, AutoscalerConfig, static_servers
from chaosctl.services.autoscaler.controller import Controller, Replica
from chaosctl.services.autoscaler.metrics import AutoscalerMetrics
from chaosctl.services.autoscaler.policy import Bounds, PoolPolicy, ServerLoad
from chaosctl.services.autoscaler.replicas import ReplicaProc


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@dataclass
class FakeLauncher:
    calls: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)

    def start(self, name: str) -> ReplicaProc:
        self.calls.append(f"start {name}")
        self.running.add(name)
        return ReplicaProc(name, 4242, 1.0)

    def stop(self, proc: ReplicaProc) -> None:
        self.calls.append(f"stop {proc.name}")
        self.running.discard(proc.name)

    def alive(self, proc: ReplicaProc) -> bool:
        return proc.name in self.running


@dataclass
class FakeServers:
    """Model servers: a replica turns warm after `warm_after` health checks; loads are set by the test."""

    log: list[str]
    clock: Clock
    loads: dict[str, ServerLoad] = field(default_factory=dict)
    warm_after: int = 3
    checks: dict[str, int] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)
    deregistered: set[str] = field(default_factory=set)
    warmed: set[str] = field(default_factory=set)
    queue_after_deregister: int = 0

    async def load(self, name: str) -> ServerLoad:
        if name in self.loads:
            return self.loads[name]
        if name not in self.deregistered:
            return ServerLoad(name)
        queue, self.queue_after_deregister = self.queue_after_deregister, max(0, self.queue_after_deregister - 1)
        return ServerLoad(name, queue_depth=queue)

    async def warm(self, name: str) -> bool:
        self.checks[name] = self.checks.get(name, 0) + 1
        self.clock.now += 1.0  # model load and device warm-up take time
        return self.checks[name] > self.warm_after

    async def warm_up(self, name: str, requests: int) -> None:
        assert self.checks[name] > self.warm_after, "warm-up inference before the server was warm"
        self.log.append(f"warm-up {name} x{requests}")
        self.warmed.add(name)

    async def register(self, name: str) -> bool:
        assert name in self.warmed, "registered before its warm-up inferences"
        self.log.append(f"register {name}")
        self.registered.add(name)
        return True

    async def deregister(self, name: str) -> None:
        self.log.append(f"deregister {name}")
        self.registered.discard(name)
        self.deregistered.add(name)


def make(gpu: PoolPolicy | None = None) -> tuple[Controller, FakeLauncher, FakeServers, Clock, CollectorRegistry]:
    clock, launcher, registry = Clock(), FakeLauncher(), CollectorRegistry()
    servers = FakeServers(launcher.calls, clock)
    policies = {"gpu": gpu or PoolPolicy(bounds=Bounds(0, 2), hot_share=0.5, up_cooldown_s=10, down_cooldown_s=30),
                "cpu": PoolPolicy(bounds=Bounds(0, 1))}
    config = AutoscalerConfig(policies=policies, drain_s=3.0)
    ctl = Controller(config, launcher, servers, AutoscalerMetrics(registry, POOLS), clock=clock, sleep=clock.sleep)
    return ctl, launcher, servers, clock, registry


def saturate(servers: FakeServers) -> None:
    for name in static_servers("gpu"):
        servers.loads[name] = ServerLoad(name, health="saturated")


async def settle(ctl: Controller) -> None:
    while ctl.tasks:
        await asyncio.gather(*list(ctl.tasks))


def test_a_replica_registers_only_after_it_is_warm_and_warmed_up() -> None:
    async def go() -> None:
        ctl, launcher, servers, clock, registry = make()
        saturate(servers)
        await ctl.tick()
        assert ctl.replicas["model-gpu-scale-1"].state == "starting"
        assert registry.get_sample_value("chaosctl_autoscaler_desired_replicas", {"pool": "gpu"}) == 1
        assert registry.get_sample_value("chaosctl_autoscaler_ready_replicas", {"pool": "gpu"}) == 0
        await settle(ctl)
        assert launcher.calls == ["start model-gpu-scale-1", "warm-up model-gpu-scale-1 x4", "register model-gpu-scale-1"]
        assert ctl.replicas["model-gpu-scale-1"].state == "ready"
        await ctl.tick()
        assert registry.get_sample_value("chaosctl_autoscaler_ready_replicas", {"pool": "gpu"}) == 1
        assert registry.get_sample_value("chaosctl_autoscaler_warmup_seconds_count", {"pool": "gpu"}) == 1
        assert registry.get_sample_value("chaosctl_autoscaler_warmup_seconds_sum", {"pool": "gpu"}) >= 4.0
        assert registry.get_sample_value(
            "chaosctl_autoscaler_scale_events_total", {"pool": "gpu", "direction": "up", "cause": "saturated"}) == 1

    asyncio.run(go())


def test_cooldown_and_max_bound_the_scale_ups() -> None:
    async def go() -> None:
        ctl, launcher, servers, clock, _ = make()
        saturate(servers)
        await ctl.tick()
        await settle(ctl)  # ready 4 s after the decision: still inside the 10 s cooldown
        await ctl.tick()
        assert "cooldown" in ctl.last_decision["gpu"].reason
        clock.now += 10
        for _ in range(3):
            await ctl.tick()
            await settle(ctl)
            clock.now += 10
        starts = [c for c in launcher.calls if c.startswith("start")]
        assert starts == ["start model-gpu-scale-1", "start model-gpu-scale-2"]  # max 2
        assert "at max" in ctl.last_decision["gpu"].reason

    asyncio.run(go())


def test_scale_down_deregisters_then_drains_then_stops() -> None:
    async def go() -> None:
        ctl, launcher, servers, clock, registry = make()
        saturate(servers)
        await ctl.tick()
        await settle(ctl)
        servers.loads.clear()  # the fault is gone: every server idle
        clock.now += 31
        await ctl.tick()
        assert ctl.last_decision["gpu"].action == "hold"  # idle for 0 s: the stabilization window starts
        clock.now += 10
        servers.queue_after_deregister = 3  # requests already routed to it before the gateway moved on
        began = clock.now
        await ctl.tick()
        assert ctl.last_decision["gpu"].action == "down"
        await settle(ctl)
        assert launcher.calls[-2:] == ["deregister model-gpu-scale-1", "stop model-gpu-scale-1"]
        assert launcher.calls.index("deregister model-gpu-scale-1") < launcher.calls.index("stop model-gpu-scale-1")
        assert clock.now - began >= 3.0 + 0.5  # the drain grace, then polls until the queue was empty
        assert servers.queue_after_deregister == 0
        assert "model-gpu-scale-1" not in ctl.replicas
        assert registry.get_sample_value(
            "chaosctl_autoscaler_scale_events_total", {"pool": "gpu", "direction": "down", "cause": "idle"}) == 1

    asyncio.run(go())


def test_an_idle_blip_between_saturated_rounds_removes_no_replica() -> None:
    """A phase boundary reverts and re-injects the faults within ~0.1 s: one round may see it."""

    async def go() -> None:
        ctl, launcher, servers, clock, _ = make()
        saturate(servers)
        await ctl.tick()
        await settle(ctl)
        clock.now += 60  # long past both cooldowns
        for _ in range(3):
            saved = dict(servers.loads)
            servers.loads.clear()  # the gap: every static server free, the replica idle
            await ctl.tick()
            assert ctl.last_decision["gpu"].action == "hold", ctl.last_decision["gpu"]
            servers.loads.update(saved)  # faults back in
            clock.now += 9
            await ctl.tick()
            assert ctl.idle_since.get("gpu") is None  # the idle run is broken, not accumulated
        assert "model-gpu-scale-1" in ctl.replicas and "stop model-gpu-scale-1" not in launcher.calls

    asyncio.run(go())


def test_a_server_counts_as_down_only_after_missing_polls_in_a_row() -> None:
    """On a starved host one /v1/load past its timeout is common: not a lost server."""

    async def go() -> None:
        ctl, launcher, servers, clock, _ = make(PoolPolicy(bounds=Bounds(0, 2), hot_share=1.0))
        await ctl.tick()  # every server answered once (seen)
        down = {n: ServerLoad(n, reachable=False, health="unreachable") for n in static_servers("gpu")}
        for _ in range(3):  # a miss, then an answer: the count starts again
            servers.loads.update(down)
            for _ in range(ctl.config.unreachable_after - 1):
                clock.now += 1
                await ctl.tick()
            assert launcher.calls == [], ctl.last_decision["gpu"]
            servers.loads.clear()
            await ctl.tick()
        servers.loads.update(down)
        for _ in range(ctl.config.unreachable_after):
            clock.now += 1
            await ctl.tick()
        assert launcher.calls[:1] == ["start model-gpu-scale-1"]
        assert ctl.last_decision["gpu"].cause == "saturated"

    asyncio.run(go())


def test_a_replica_that_just_became_ready_starts_a_new_idle_run() -> None:
    """Seen live: the faults went out while a replica warmed; the pool's idle run was already 10 s
    old when it registered, and it was stopped 0.8 s later, never once observed idle itself."""

    async def go() -> None:
        ctl, launcher, servers, clock, _ = make()
        await ctl.tick()  # static servers idle, no replica: the idle run starts (at min: hold)
        name = "model-gpu-scale-1"
        ctl.replicas[name] = Replica(name, "gpu", clock(), "ready", launcher.start(name), clock(), clock())
        clock.now += 15  # past the stabilization window of the run without it
        await ctl.tick()
        assert ctl.last_decision["gpu"].action == "hold", ctl.last_decision["gpu"]
        assert "idle for 0.0" in ctl.last_decision["gpu"].reason
        clock.now += 10
        await ctl.tick()
        assert ctl.last_decision["gpu"].action == "down"

    asyncio.run(go())


def test_disabled_decides_but_does_not_act() -> None:
    async def go() -> None:
        ctl, launcher, servers, _, _ = make()
        ctl.enabled = False
        saturate(servers)
        await ctl.tick()
        assert launcher.calls == []
        assert ctl.last_decision["gpu"].reason.startswith("disabled (would scale up")

    asyncio.run(go())


def test_a_replica_that_never_gets_warm_is_stopped_and_counted() -> None:
    async def go() -> None:
        ctl, launcher, servers, _, registry = make()
        servers.warm_after = 10_000
        saturate(servers)
        await ctl.tick()
        await settle(ctl)
        assert launcher.calls == ["start model-gpu-scale-1", "stop model-gpu-scale-1"]
        assert ctl.replicas == {}
        assert registry.get_sample_value("chaosctl_autoscaler_replica_failures_total", {"pool": "gpu"}) == 1

    asyncio.run(go())


def test_close_deregisters_and_stops_every_replica() -> None:
    async def go() -> None:
        ctl, launcher, servers, _, _ = make()
        saturate(servers)
        await ctl.tick()
        await settle(ctl)
        await ctl.close()
        assert launcher.calls[-2:] == ["deregister model-gpu-scale-1", "stop model-gpu-scale-1"]
        assert launcher.running == set()

    asyncio.run(go())


def test_servers_not_yet_seen_are_starting_not_down_until_the_grace_ends() -> None:
    async def go() -> None:
        ctl, launcher, servers, clock, _ = make()
        for name in static_servers("gpu"):
            servers.loads[name] = ServerLoad(name, reachable=False, health="unreachable")
        for _ in range(ctl.config.unreachable_after):
            await ctl.tick()
        assert launcher.calls == [] and "to answer once" in ctl.last_decision["gpu"].reason
        clock.now += ctl.config.startup_grace_s
        await ctl.tick()
        assert launcher.calls[:1] == ["start model-gpu-scale-1"]  # never answered: now it counts as down

    asyncio.run(go())


def test_a_pool_below_its_min_scales_up_at_once_even_while_starting() -> None:
    async def go() -> None:
        ctl, launcher, servers, _, _ = make()
        for name in static_servers("gpu"):
            servers.loads[name] = ServerLoad(name, reachable=False, health="unreachable")
        ctl.set_bounds("gpu", Bounds(1, 2))
        await ctl.tick()
        assert ctl.last_decision["gpu"].cause == "below_min"
        await settle(ctl)
        assert launcher.calls[-1] == "register model-gpu-scale-1"

    asyncio.run(go())
