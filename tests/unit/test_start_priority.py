"""What `up` does first (stack/starting.py, stack/startorder.first): the fork server before the
pre-start checks, and of the components free to start together the slowest to get ready (Prometheus:
its first scrapes come 5-6 s after it starts; the GPU model servers: their warm-up) before the light ones. Fake launcher and clock
from test_local_backend_fakes: no process is started."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from test_local_backend_fakes import BASE, FakeClock, FakeLauncher, FakeProbes

from chaosctl.settings import SECRET_ENV, Settings
from chaosctl.stack.local import LocalBackend
from chaosctl.stack import components as comps
from chaosctl.stack import startorder
from chaosctl.stack.topology import ANALYSER, EVENTS, MODEL_SERVERS, Topology

GPU = [m.name for m in MODEL_SERVERS if m.device == "gpu"]
CPU = [m.name for m in MODEL_SERVERS if m.device == "cpu"]


class _NoStackChecks(LocalBackend):
    def _stack_checks(self):  # the registrations and targets need real sockets: not this test's subject
        return []


def _backend(tmp_path: Path, components: tuple[str, ...], launcher: FakeLauncher, clock: FakeClock) -> LocalBackend:
    secrets = {name: f"{name}-{'s' * 40}" for name in SECRET_ENV}
    settings = Settings(state_dir=tmp_path / "state", port_base=BASE, **secrets)
    probes = FakeProbes(launcher, clock, dict.fromkeys(components, 1.0))
    return _NoStackChecks(settings, components=components, clock=clock, sleep=clock.sleep, launcher=launcher,
                          probe=probes)


def test_first_puts_the_broker_then_the_gpu_servers_then_the_registry_ahead_keeping_the_rest_in_order() -> None:
    names = ["registry", *CPU, *GPU, "preprocess", "postprocess", EVENTS]
    assert startorder.first(names) == [EVENTS, *GPU, "registry", *CPU, "preprocess", "postprocess"]
    assert startorder.first(["gateway", "autoscaler"]) == ["gateway", "autoscaler"]


def test_the_analyser_is_forked_right_after_the_gpu_servers_ahead_of_the_registry() -> None:
    names = ["registry", *CPU, *GPU, "preprocess", "postprocess", ANALYSER]
    assert startorder.first(names) == [*GPU, ANALYSER, "registry", *CPU, "preprocess", "postprocess"]


def test_up_spawns_prometheus_first_its_first_scrapes_being_the_last_wait() -> None:
    stage = [s for s in comps.stages(Topology(BASE))][0]
    assert stage[0] != "prometheus"  # the stage's order is not what puts it first
    assert startorder.first(list(stage))[0] == "prometheus"
    assert startorder.first([EVENTS, "prometheus", *GPU])[:2] == ["prometheus", EVENTS]


def test_up_spawns_the_gpu_model_servers_before_the_registry_and_the_light_services(tmp_path: Path) -> None:
    components = ("registry", *MODEL_SERVERS_IN_STAGE_ORDER, "preprocess", "postprocess")
    clock = FakeClock()
    launcher = FakeLauncher(clock)
    _backend(tmp_path, components, launcher, clock).up()
    order = [name for name, _ in launcher.spawned]
    assert order[: len(GPU)] == GPU  # free to start together with the registry: the slowest go first
    assert order[len(GPU)] == "registry"
    assert sorted(order) == sorted(components)
    got = startorder.needs(Topology(BASE), list(components))  # the order changed, not what waits for what
    assert all(got[s] == frozenset() for s in GPU + CPU)


def test_up_starts_the_fork_server_before_its_checks_of_ports_and_binaries(tmp_path: Path) -> None:
    calls: list[str] = []

    class Launcher(FakeLauncher):
        def listeners(self, ports: Iterable[int]) -> dict[int, int | None]:
            calls.append("ports checked")
            return {}

    @contextmanager
    def forks() -> Iterator[None]:
        calls.append("fork server started")
        yield None

    clock = FakeClock()
    backend = _backend(tmp_path, ("registry", "preprocess", "gateway"), Launcher(clock), clock)
    backend.forks = forks
    backend.up()
    assert calls[:2] == ["fork server started", "ports checked"]  # its imports overlap the checks


MODEL_SERVERS_IN_STAGE_ORDER = tuple(m.name for m in MODEL_SERVERS)


def test_up_makes_its_probe_client_after_the_first_spawns_and_only_one(tmp_path: Path, monkeypatch) -> None:
    import httpx

    from chaosctl.stack import health

    clock = FakeClock()
    launcher = FakeLauncher(clock)
    made: list[int] = []

    def client() -> httpx.Client:  # making the first client imports httpcore: Prometheus should not wait for it
        made.append(len(launcher.spawned))
        return httpx.Client()

    monkeypatch.setattr(health, "client", client)
    _backend(tmp_path, ("registry", "preprocess", "gateway"), launcher, clock).up()
    assert made == [2]  # after the registry's and the stage's spawns, before their first probe; one for the whole up
