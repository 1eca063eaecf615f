"""The local backend: every component a supervised process on 127.0.0.1.

State (pids, port base) lives in `state_dir/stack.json`, logs in
`state_dir/logs/<component>.log`. Every process runs in its own process group
and is stopped by pid (TERM to the group, KILL after a timeout), never by name.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterable
from typing import Any

import httpx

from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings
from chaosctl.services.autoscaler.replicas import stop_recorded
from chaosctl.stack import components as comps
from chaosctl.stack import forkserver, health, procs, state
from chaosctl.stack.backend import (
    ENDPOINT_COMPONENTS, PAUSED, READY, STARTING, STOPPED, ComponentStatus, Reporter, StackStatus,
)
from chaosctl.stack.starting import POLL, Forks, Probe, StackStarter, _no_forks
from chaosctl.stack.topology import Topology
from chaosctl.waiting import Clock, Sleep, wait_until

__all__ = ["POLL", "LocalBackend"]

STOP_TIMEOUT = 10.0
PORT_POLL = 0.25  # a busy port's grace: each look lists every socket of the host (psutil), not cheap


def _quiet(component: str, event: str, detail: str) -> None:
    del component, event, detail


class LocalBackend(StackStarter):
    """Backend over local processes. `components` restricts the stack (tests); `clock` and
    `sleep` are what every wait of `up`/`down` runs on, `launcher` what starts, signals and
    stops the processes, `probe` what asks a component whether it is ready (defaults: the
    real ones; unit tests pass fakes and start no process: test_local_backend_fakes.py).
    `forks` opens, for one `up`, what forks the Python services pre-imported (a
    forkserver.ForkServer; None: each is spawned by the launcher); by default the real fork
    server with the real launcher, none with a given one."""

    def __init__(self, settings: Settings, reporter: Reporter | None = None,
                 components: Iterable[str] | None = None, *,
                 clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
                 launcher: procs.Launcher | None = None, probe: Probe = comps.probe,
                 forks: Forks | None = None) -> None:
        self.settings = settings
        self.clock, self.sleep = clock, sleep
        # Real processes get the fork server (the factory passes the real launcher: `chaosctl up` forked
        # nothing before); a fake launcher gets no forks.
        real = launcher is None or isinstance(launcher, procs.ProcessLauncher)
        self.forks = forks if forks is not None else (self._fork_server if real else _no_forks)
        self._forker: Forker | None = None
        self._last_probes: dict[str, health.Probe] = {}
        self._probes = None
        self._asking = {}
        self._round_began = 0.0
        self.launcher = launcher if launcher is not None else procs.ProcessLauncher(clock, sleep)
        self.probe = probe
        self.topology = Topology(settings.port_base)
        wanted = set(components) if components is not None else set(self.topology.components)
        self.components = tuple(c for c in self.topology.components if c in wanted)
        self.report: Reporter = reporter or _quiet

    # -- whole stack ---------------------------------------------------------

    def up(self) -> StackStatus:
        with state.locked(self.settings.state_dir):
            st = self._load_checked()
            running = {n for n in self.components if n in st.procs and self.launcher.process(st.procs[n])}
            self._resume_paused(st, running)
            if running == set(self.components) and self._all_ready(running):
                for name in self.components:
                    self.report(name, "running", "already running")
                return self._ready_status(st)  # just probed, every one: no second round of probes
            self._start_stages(st, running)
            # Each component was probed ready on the way, and the stack checks passed: no second round.
            return self._ready_status(state.load(self.settings.state_dir, self.settings.port_base))

    def _ready_status(self, st: state.StackState) -> StackStatus:
        # Each was probed ready on the way; one that exited since (during the stack-wide checks)
        # is not READY. A process lookup, not a second round of probes.
        items = tuple(ComponentStatus(n, READY if self.launcher.process(st.procs[n]) is not None else STOPPED,
                                      self.topology.url(n), st.procs[n].pid) for n in self.components)
        endpoints = {n: self.topology.url(n) for n in ENDPOINT_COMPONENTS if n in self.components}
        return StackStatus("local", items, endpoints)

    def down(self) -> None:
        with state.locked(self.settings.state_dir):
            st = state.load(self.settings.state_dir, self.settings.port_base)
            recs = [st.procs[n] for n in reversed(self.topology.components)
                    if n in st.procs and self.launcher.process(st.procs[n]) is not None]
            for rec in recs:
                self.report(rec.name, "stopping", f"pid {rec.pid}")
            left = self._stop_all(recs)
            if left:
                survivors = ", ".join(self.launcher.describe(p.pid) for p in left)
                raise StackUnavailable(f"still running after SIGKILL: {survivors}")
            for rec in recs:
                self.report(rec.name, "stopped", "")
            for name in stop_recorded(self.settings.state_dir):  # the autoscaler's, even if it died
                self.report(name, "stopped", "autoscaler replica")
            state.save(self.settings.state_dir, state.StackState(st.port_base))
            self._remove_data()
            self._verify_ports_free(Topology(st.port_base))

    def status(self) -> StackStatus:
        st = self._load_checked()  # a stack on another port base in this state dir is an error
        with health.client() as client:
            items = tuple(self._component_status(name, st, client) for name in self.components)
        endpoints = {n: self.topology.url(n) for n in ENDPOINT_COMPONENTS if n in self.components}
        return StackStatus("local", items, endpoints)

    # -- one component (faults) ----------------------------------------------

    def kill(self, component: str) -> None:
        self.launcher.kill(self._running(component))

    def pause(self, component: str) -> None:
        rec = self._running(component)
        self.launcher.signal_group(rec, signal.SIGSTOP)
        if not self.launcher.wait_paused(rec, True):
            raise StackUnavailable(f"{component} (pid {rec.pid}) did not stop on SIGSTOP")

    def resume(self, component: str) -> None:
        rec = self._running(component)
        self.launcher.signal_group(rec, signal.SIGCONT)
        if not self.launcher.wait_paused(rec, False):
            raise StackUnavailable(f"{component} (pid {rec.pid}) did not continue on SIGCONT")

    def start(self, component: str) -> None:
        """(Re)start `component` if it is not running, resume it if paused; wait until ready."""
        self._known(component)
        with state.locked(self.settings.state_dir):
            st = self._load_checked()
            rec = st.procs.get(component)
            if rec is not None and self.launcher.process(rec) is not None:
                if self.launcher.is_paused(rec):
                    self.launcher.signal_group(rec, signal.SIGCONT)
                self._wait_ready([component], st)
                return
            self._check_ports_free([component])
            st = self._spawn(component, st)
            try:
                self._wait_ready([component], st)
            except BaseException:
                self._stop_started([component])  # no half-started process behind a failed revert
                raise

    def is_running(self, component: str) -> bool:
        """True while its process exists, paused or not."""
        rec = self._record(component)
        return rec is not None and self.launcher.process(rec) is not None

    def is_paused(self, component: str) -> bool:
        rec = self._record(component)
        return rec is not None and self.launcher.is_paused(rec)

    def pid(self, component: str) -> int | None:
        rec = self._record(component)
        return rec.pid if rec is not None and self.launcher.process(rec) is not None else None

    # -- starting (the rest in starting.StackStarter) ---------------------------

    def _resume_paused(self, st: state.StackState, running: set[str]) -> None:
        """A component left paused (say, by a run that died) is part of the stack: continue it."""
        for name in sorted(running):
            if self.launcher.is_paused(st.procs[name]):
                self.launcher.signal_group(st.procs[name], signal.SIGCONT)
                self.launcher.wait_paused(st.procs[name], False)
                self.report(name, "starting", "resumed (was paused)")

    def _stop_all(self, recs: list[procs.ProcRecord]) -> list[Any]:
        """Everything but etcd together, then etcd one member at a time: a leader told to
        stop hands leadership over first, which stalls for seconds when every peer is
        going away too."""
        members = set(self.topology.etcd_members)
        left = self.launcher.stop([r for r in recs if r.name not in members], timeout=STOP_TIMEOUT)
        for rec in (r for r in recs if r.name in members):
            left += self.launcher.stop([rec], timeout=STOP_TIMEOUT)
        return left

    def _stop_started(self, started: list[str]) -> None:
        st = state.load(self.settings.state_dir, self.settings.port_base)
        recs = [st.procs[n] for n in reversed(started) if n in st.procs]
        self._stop_all(recs)
        for rec in recs:
            st = st.without(rec.name)
            self.report(rec.name, "stopped", "(up did not complete)")
        # The autoscaler may have started a replica before it was stopped (SIGKILLed past its grace:
        # its own shutdown stops none), as `down` does.
        for name in stop_recorded(self.settings.state_dir):
            self.report(name, "stopped", "autoscaler replica (up did not complete)")
        state.save(self.settings.state_dir, st)

    # -- helpers -------------------------------------------------------------

    def _fork_server(self) -> Any:
        return forkserver.started(self.settings.state_dir / "logs" / "forkserver.log")

    def _all_ready(self, names: Iterable[str]) -> bool:
        with health.client() as client:
            if not all(self.probe(n, client, self.topology).ok for n in names):
                return False
            return all(check(client).ok for _, check in self._stack_checks())

    def _component_status(self, name: str, st: state.StackState, client: httpx.Client) -> ComponentStatus:
        url = self.topology.url(name)
        rec = st.procs.get(name)
        proc = self.launcher.process(rec) if rec is not None else None
        if rec is None or proc is None:
            return ComponentStatus(name, STOPPED, url, None)
        if self.launcher.is_paused(rec):
            return ComponentStatus(name, PAUSED, url, rec.pid)
        ready = self.probe(name, client, self.topology).ok
        return ComponentStatus(name, READY if ready else STARTING, url, rec.pid)

    def _load_checked(self) -> state.StackState:
        st = state.load(self.settings.state_dir, self.settings.port_base)
        alive = [n for n, rec in st.procs.items() if self.launcher.process(rec) is not None]
        if st.port_base != self.settings.port_base and alive:
            raise StackUnavailable(
                f"a stack with port base {st.port_base} runs from {self.settings.state_dir} "
                f"({', '.join(alive)}); run `chaosctl down --state-dir {self.settings.state_dir}` first"
            )
        return st if st.port_base == self.settings.port_base else state.StackState(self.settings.port_base)

    def _known(self, component: str) -> None:
        if component not in self.components:
            raise StackUnavailable(f"unknown component {component!r}; known: {', '.join(self.components)}")

    def _record(self, component: str) -> procs.ProcRecord | None:
        self._known(component)
        return state.load(self.settings.state_dir, self.settings.port_base).procs.get(component)

    def _running(self, component: str) -> procs.ProcRecord:
        rec = self._record(component)
        if rec is None or self.launcher.process(rec) is None:
            raise StackUnavailable(f"{component} is not running")
        return rec

    def _check_ports_free(self, names: Iterable[str], grace: float = 5.0) -> None:
        wanted = {p: n for n in names for p in comps.ports(self.topology, n)}
        # A process that was just killed may hold its listening socket for a moment
        # while the kernel tears it down (psutil then names no owner): wait that out.
        busy = wait_until(lambda: self.launcher.listeners(wanted), grace, interval=PORT_POLL,
                          done=lambda found: not found,
                          clock=self.clock, sleep=self.sleep)  # fmt: skip
        if busy:
            lines = [f"port {p} ({wanted[p]}) is in use by {self.launcher.describe(pid)}" for p, pid in sorted(busy.items())]
            raise StackUnavailable("cannot start the stack: " + "; ".join(lines))

    def _verify_ports_free(self, topo: Topology) -> None:
        busy = wait_until(lambda: self.launcher.listeners(comps.all_ports(topo)), 5.0, interval=PORT_POLL,
                          done=lambda found: not found, clock=self.clock, sleep=self.sleep)  # fmt: skip
        if busy:
            lines = [f"port {p} still listens ({self.launcher.describe(pid)})" for p, pid in sorted(busy.items())]
            raise StackUnavailable("after down: " + "; ".join(lines))

    def _reset_partial_etcd(self) -> None:
        """With no member running, a cluster can only restart from all data dirs or none."""
        dirs = [comps.etcd_data_dir(self.settings, n) for n in self.topology.etcd_members]
        have = [(d / "member").is_dir() for d in dirs]
        if any(have) and not all(have):
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)

    def _remove_data(self) -> None:
        """A stopped stack keeps its logs; the next `up` starts from a fresh cluster and TSDB."""
        shutil.rmtree(self.settings.state_dir / "etcd", ignore_errors=True)
        shutil.rmtree(self.settings.state_dir / "prometheus", ignore_errors=True)
        shutil.rmtree(comps.kafka_dir(self.settings), ignore_errors=True)  # the broker's topics and offsets
