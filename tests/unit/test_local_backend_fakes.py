"""The local backend's `up`/`down` with a fake process launcher, a fake clock and fake health
probes (issue 14 part 4): start order, deadlines and failure paths without starting a process.
The real processes are covered by the live stack tests (tests/integration/test_stack_*.py)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from chaosctl.errors import StackUnavailable
from chaosctl.settings import SECRET_ENV, Settings
from chaosctl.stack import state
from chaosctl.stack.backend import READY, STOPPED
from chaosctl.stack.health import Probe
from chaosctl.stack.local import POLL, LocalBackend
from chaosctl.stack.starting import RESTART_POLL, RETRY_MARGIN
from chaosctl.stack.procs import ProcRecord
from chaosctl.stack.topology import Topology

BASE = 24800
# No model server and no toxiproxy/prometheus: no stack-wide check, so nothing asks a real socket.
# The gateway needs the registry and the preprocess stage (startorder.needs).
COMPONENTS = ("registry", "preprocess", "gateway")


class FakeClock:
    """Time that moves only when somebody sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "never sleep zero or less"
        self.now += seconds


@dataclass
class FakeProc:
    pid: int


@dataclass
class FakeLauncher:
    """Processes as a dict: spawn records the time, `dies_at_start` ones are gone at once,
    `unkillable` ones survive stop(). Nothing is started, signalled or waited for."""

    clock: FakeClock
    dies_at_start: frozenset[str] = frozenset()
    unkillable: frozenset[str] = frozenset()
    spawned: list[tuple[str, float]] = field(default_factory=list)
    stopped: list[list[str]] = field(default_factory=list)
    alive: dict[int, str] = field(default_factory=dict)
    signals: list[tuple[str, signal.Signals]] = field(default_factory=list)

    def spawn(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> ProcRecord:
        pid = 40000 + len(self.spawned)
        self.spawned.append((name, self.clock()))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(f"{name}: starting\n{name}: boom\n" if name in self.dies_at_start else f"{name}: starting\n")
        if name not in self.dies_at_start:
            self.alive[pid] = name
        return ProcRecord(name, pid, float(pid), str(log_path))

    def process(self, rec: ProcRecord) -> FakeProc | None:
        return FakeProc(rec.pid) if rec.pid in self.alive else None

    def exit_status(self, rec: ProcRecord) -> str:
        return "exit code 1"

    def is_paused(self, rec: ProcRecord) -> bool:
        return False

    def wait_paused(self, rec: ProcRecord, paused: bool, timeout: float = 3.0) -> bool:
        return not paused

    def signal_group(self, rec: ProcRecord, sig: signal.Signals) -> bool:
        self.signals.append((rec.name, sig))
        return rec.pid in self.alive

    def stop(self, recs: Sequence[ProcRecord], timeout: float = 10.0) -> list[FakeProc]:
        self.stopped.append([r.name for r in recs])
        left = [FakeProc(r.pid) for r in recs if r.pid in self.alive and r.name in self.unkillable]
        for rec in recs:
            if rec.name not in self.unkillable:
                self.alive.pop(rec.pid, None)
        return left

    def kill(self, rec: ProcRecord) -> None:
        self.alive.pop(rec.pid, None)

    def listeners(self, ports: Iterable[int]) -> dict[int, int | None]:
        return {}

    def describe(self, pid: int | None) -> str:
        return f"pid {pid} (fake)"


@dataclass
class FakeProbes:
    """A component is ready `ready_after[name]` seconds after it was spawned (never if absent)."""

    launcher: FakeLauncher
    clock: FakeClock
    ready_after: dict[str, float]
    asked: list[str] = field(default_factory=list)
    say_when: frozenset[str] = frozenset()  # these answer how long they still need (a warming GPU server)

    def __call__(self, name: str, client: httpx.Client, topo: Topology) -> Probe:
        self.asked.append(name)
        began = max((t for n, t in self.launcher.spawned if n == name), default=None)
        after = self.ready_after.get(name)
        if began is None or after is None or self.clock() - began < after:
            left = began + after - self.clock() if began is not None and after is not None else None
            return Probe(False, "connection refused", left if name in self.say_when else None)
        return Probe(True)


def _stack(tmp_path: Path, ready_after: dict[str, float], **launcher_kw: frozenset[str]):
    clock = FakeClock()
    launcher = FakeLauncher(clock, **launcher_kw)
    probes = FakeProbes(launcher, clock, ready_after)
    secrets = {name: f"{name}-{'s' * 40}" for name in SECRET_ENV}  # distinct, long enough
    settings = Settings(state_dir=tmp_path / "state", port_base=BASE, **secrets)
    events: list[tuple[str, str]] = []
    backend = LocalBackend(settings, reporter=lambda c, e, d: events.append((c, e)), components=COMPONENTS,
                           clock=clock, sleep=clock.sleep, launcher=launcher, probe=probes)
    return backend, launcher, clock, events


def _recorded(backend: LocalBackend) -> set[str]:
    return set(state.load(backend.settings.state_dir, BASE).procs)


def test_up_starts_each_component_once_what_it_needs_is_ready(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 3.0, "preprocess": 1.0, "gateway": 2.0})
    began, real = clock(), time.monotonic()
    status = backend.up()
    spawned = dict(launcher.spawned)
    assert list(spawned) == ["registry", "preprocess", "gateway"]
    assert spawned["registry"] == spawned["preprocess"] == began  # no dependency between them: together
    assert spawned["gateway"] >= began + 3.0  # only once the registry (the slower of the two) answered
    assert spawned["gateway"] < began + 3.0 + 2 * POLL  # ... and at the next poll, not later
    assert [c.state for c in status.components] == [READY] * 3
    assert [c for c, e in events if e == "ready"] == ["preprocess", "registry", "gateway"]
    assert _recorded(backend) == set(COMPONENTS) and time.monotonic() - real < 5.0


def test_a_cold_up_returns_once_the_last_component_answers_without_probing_again(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 0.5, "preprocess": 0.5, "gateway": 1.0})
    probes, asked_when_ready = backend.probe, []
    backend.report = lambda c, e, d: asked_when_ready.append(len(probes.asked)) if e == "ready" else None
    status = backend.up()
    assert len(asked_when_ready) == 3 and len(probes.asked) == asked_when_ready[-1]  # no second round on the tail
    assert [(c.name, c.state, c.pid) for c in status.components] == [
        (n, READY, backend.pid(n)) for n in COMPONENTS]  # fmt: skip


def test_a_component_that_exits_after_it_answered_is_not_returned_ready(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 0.5, "preprocess": 0.5, "gateway": 1.0})

    def registry_dies_when_the_gateway_is_ready(component: str, event: str, detail: str) -> None:
        if (component, event) == ("gateway", "ready"):
            launcher.alive.pop(backend.pid("registry"))
    backend.report = registry_dies_when_the_gateway_is_ready
    status = backend.up()
    assert {c.name: c.state for c in status.components} == {"registry": STOPPED, "preprocess": READY, "gateway": READY}
    assert not status.all_ready


def test_up_asks_a_warming_component_again_when_it_said_it_would_be_ready_not_a_poll_later(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 0.3, "preprocess": 0.3, "gateway": 0.0})
    backend.probe.say_when = frozenset({"registry"})
    ready_at: dict[str, float] = {}
    backend.report = lambda c, e, d: ready_at.setdefault(c, clock()) if e == "ready" else None
    began = clock()
    backend.up()
    assert ready_at["registry"] - began == pytest.approx(0.3 + RETRY_MARGIN)  # asked again at 0.25 (the poll), then when it said
    assert ready_at["preprocess"] - began == pytest.approx(0.3 + RETRY_MARGIN)  # probed in that round too
    assert ready_at["gateway"] - began == pytest.approx(0.3 + RETRY_MARGIN)  # started at once, ready at its first probe


def test_a_component_that_does_not_answer_does_not_hold_the_others_probes_back(tmp_path: Path) -> None:
    import threading

    backend, launcher, clock, events = _stack(tmp_path, {"registry": 0.0, "preprocess": 0.0, "gateway": 0.0})
    answer = threading.Event()
    probes = backend.probe

    def probe(name: str, client: httpx.Client, topo: Topology) -> Probe:
        if name == "registry" and not answer.is_set():
            answer.wait(timeout=5.0)  # hangs, as etcd before its cluster has a leader
        return probes(name, client, topo)

    backend.probe = probe
    ready_at: dict[str, float] = {}

    def report(component: str, event: str, detail: str) -> None:
        if event == "ready":
            ready_at.setdefault(component, clock())
            answer.set()  # the hanging probe answers once the round went on without it

    backend.report = report
    began = clock()
    backend.up()
    assert ready_at["preprocess"] == began  # answered in the first round, the registry's probe still hanging
    assert ready_at["registry"] == ready_at["gateway"] == began + POLL  # its answer taken in the next round


def test_up_when_everything_runs_and_answers_starts_nothing(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 0.0, "preprocess": 0.0, "gateway": 0.0})
    backend.up()
    events.clear()
    backend.up()
    assert len(launcher.spawned) == 3 and events == [(c, "running") for c in COMPONENTS]


def test_up_on_a_healthy_stack_probes_each_component_once_and_says_ready(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 0.0, "preprocess": 0.0, "gateway": 0.0})
    backend.up()
    probes = backend.probe
    probes.asked.clear()
    status = backend.up()
    assert sorted(probes.asked) == sorted(COMPONENTS)  # the readiness check only: no second round for the status
    assert [(c.name, c.state, c.pid) for c in status.components] == [
        (n, READY, backend.pid(n)) for n in COMPONENTS]  # fmt: skip


def test_a_component_that_never_gets_healthy_fails_on_its_deadline_and_up_stops_what_it_started(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 1.0})  # preprocess never answers
    began, real = clock(), time.monotonic()
    with pytest.raises(StackUnavailable, match=r"preprocess failed to start: not ready after 120 s: connection refused"):
        backend.up()
    assert 120.0 <= clock() - began < 120.0 + 2 * POLL  # its kind's READY_TIMEOUT, on the fake clock
    assert time.monotonic() - real < 10.0
    assert "gateway" not in dict(launcher.spawned)  # it needs preprocess
    assert launcher.stopped == [["preprocess", "registry"]]  # what this up started, newest first
    assert ("preprocess", "failed") in events and _recorded(backend) == set() and launcher.alive == {}


def test_a_failed_up_stops_the_replicas_the_autoscaler_recorded(tmp_path: Path) -> None:
    """Seen at load ~60: up failed on a slow broker, the autoscaler was stopped, and a GPU replica it
    had started kept running on the stack's ports (down would have stopped it; up's cleanup did not)."""
    import subprocess

    import psutil

    from chaosctl.services.autoscaler.replicas import ReplicaProc, StateFile, state_path

    backend, launcher, clock, events = _stack(tmp_path, {"registry": 1.0})  # preprocess never answers
    child = subprocess.Popen(["sleep", "60"])  # stands for the replica: a real process to stop by pid
    try:
        StateFile(state_path(backend.settings.state_dir)).put(
            ReplicaProc("model-gpu-scale-1", child.pid, psutil.Process(child.pid).create_time()))
        with pytest.raises(StackUnavailable, match="preprocess failed to start"):
            backend.up()
        assert child.wait(timeout=10) is not None  # terminated, not left running
        assert ("model-gpu-scale-1", "stopped") in events
        assert not state_path(backend.settings.state_dir).exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_start_of_one_component_sees_it_ready_within_a_restart_poll(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 0.0, "preprocess": 0.0, "gateway": 0.0})
    backend.up()
    backend.kill("registry")
    backend.probe.ready_after["registry"] = 0.3
    began = clock()
    backend.start("registry")
    assert 0.3 <= clock() - began <= 0.3 + RESTART_POLL  # not up to a whole POLL (0.25 s) later: 0.5


def test_a_component_that_dies_at_start_fails_fast_with_its_log(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 5.0, "preprocess": 0.0},
                                              dies_at_start=frozenset({"registry"}))
    began = clock()
    with pytest.raises(StackUnavailable, match=r"registry failed to start: exited \(exit code 1\)") as err:
        backend.up()
    assert clock() - began <= POLL  # found at the first probe, not at the deadline
    assert "registry: boom" in str(err.value)  # the log's last lines come with the error
    assert "gateway" not in dict(launcher.spawned) and _recorded(backend) == set() and launcher.alive == {}


def test_down_skips_an_already_dead_pid_and_stops_the_rest_in_reverse_order(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 0.0, "preprocess": 0.0, "gateway": 0.0})
    backend.up()
    dead = next(pid for pid, name in launcher.alive.items() if name == "preprocess")
    del launcher.alive[dead]  # it died on its own since
    events.clear()
    backend.down()
    assert launcher.stopped == [["gateway", "registry"]]  # topology order reversed, the dead one left out
    assert [c for c, e in events if e == "stopped"] == ["gateway", "registry"]
    assert _recorded(backend) == set() and launcher.alive == {}
    assert [c.state for c in backend.status().components] == [STOPPED] * 3
    backend.down()  # a second down has nothing to stop and does not fail
    assert launcher.stopped[-1] == []


def test_down_that_cannot_stop_a_process_says_which(tmp_path: Path) -> None:
    backend, launcher, clock, events = _stack(tmp_path, {"registry": 0.0, "preprocess": 0.0, "gateway": 0.0},
                                              unkillable=frozenset({"gateway"}))
    backend.up()
    with pytest.raises(StackUnavailable, match=r"still running after SIGKILL: pid \d+ \(fake\)"):
        backend.down()
    assert _recorded(backend) == set(COMPONENTS)  # the state still names what runs


def test_the_factory_wires_the_real_clock_launcher_and_probe(tmp_path: Path) -> None:
    from chaosctl.stack import components
    from chaosctl.stack.factory import get_backend
    from chaosctl.stack.procs import ProcessLauncher

    backend = get_backend(Settings(state_dir=tmp_path / "state", port_base=BASE))
    assert isinstance(backend, LocalBackend) and isinstance(backend.launcher, ProcessLauncher)
    assert backend.clock is time.monotonic and backend.launcher.clock is time.monotonic
    assert backend.probe is components.probe


def test_the_factorys_backend_forks_its_services_from_the_fork_server(tmp_path):
    # `chaosctl up` builds the backend through the factory with the real launcher; the fork server
    # was used only when no launcher was given, so the CLI's up spawned every service plainly
    # (20.9 s against 8.6 s on the same quiet machine).
    from chaosctl.settings import Settings
    from chaosctl.stack import local
    from chaosctl.stack.factory import get_backend

    backend = get_backend(Settings(state_dir=tmp_path / "state"))
    assert isinstance(backend, local.LocalBackend) and backend.forks == backend._fork_server
    fake = local.LocalBackend(Settings(state_dir=tmp_path / "fake"), launcher=object())
    assert fake.forks is local._no_forks
