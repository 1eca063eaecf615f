"""The local backend: every component a supervised process on 127.0.0.1.

State (pids, port base) lives in `state_dir/stack.json`, logs in
`state_dir/logs/<component>.log`. Every process runs in its own process group
and is stopped by pid (TERM to the group, KILL after a timeout), never by name.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings
from chaosctl.services.autoscaler.replicas import stop_recorded
from chaosctl.stack import components as comps
from chaosctl.stack import configs, forkserver, health, procs, startorder, state
from chaosctl.stack.backend import (
    ENDPOINT_COMPONENTS, PAUSED, READY, STARTING, STOPPED, ComponentStatus, Reporter, StackStatus,
)
from chaosctl.stack import regions
from chaosctl.stack.topology import MODEL_SERVERS, Topology
from chaosctl.waiting import Clock, Sleep, wait_until

STOP_TIMEOUT = 10.0
POLL = 0.25
LOG_TAIL_LINES = 25
STACK_CHECK_TIMEOUT = 40.0  # registrations, Prometheus targets
Probe = Callable[[str, httpx.Client, Topology], health.Probe]  # comps.probe: is component NAME ready?
Forker = Any  # forkserver.ForkServer, or a fake: spawn() -> a ProcRecord, or None (not forked); pending() -> bool
Forks = Callable[[], Any]  # -> a context manager giving a Forker or None


def _quiet(component: str, event: str, detail: str) -> None:
    del component, event, detail


@contextmanager
def _no_forks() -> Iterator[None]:
    yield None


class LocalBackend:
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
        return self.status()

    def _ready_status(self, st: state.StackState) -> StackStatus:
        items = tuple(ComponentStatus(n, READY, self.topology.url(n), st.procs[n].pid) for n in self.components)
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
        with httpx.Client() as client:
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

    # -- starting ------------------------------------------------------------

    def _start_stages(self, st: state.StackState, running: set[str]) -> None:
        """Start what is missing, stage by stage; on any failure stop what this call started."""
        started: list[str] = []
        todo_all = [n for n in self.components if n not in running]
        self._check_ports_free(todo_all)  # fail before starting anything
        missing = comps.missing_binaries(todo_all, self.settings)
        if missing:
            raise StackUnavailable("cannot start the stack, missing: " + "; ".join(missing))
        if not running & set(self.topology.etcd_members):
            self._reset_partial_etcd()
        try:
            services = sum(comps.kind(n) == "service" for n in todo_all)  # forking pays from the second on
            with (self.forks() if services > 1 else _no_forks()) as self._forker:
                self._start_when_needed(st, running, started)
            self._forker = None
            for name, check in self._stack_checks():
                self._wait_for(name, check)
        except BaseException:
            self._forker = None
            self._stop_started(started)
            if not running:
                self._remove_data()  # nothing ran before: leave no half-bootstrapped cluster
            raise

    def _resume_paused(self, st: state.StackState, running: set[str]) -> None:
        """A component left paused (say, by a run that died) is part of the stack: continue it."""
        for name in sorted(running):
            if self.launcher.is_paused(st.procs[name]):
                self.launcher.signal_group(st.procs[name], signal.SIGCONT)
                self.launcher.wait_paused(st.procs[name], False)
                self.report(name, "starting", "resumed (was paused)")

    def _spawn(self, name: str, st: state.StackState) -> state.StackState:
        launch = comps.launch(name, self.settings, self.topology, self.components)
        log = self.settings.state_dir / "logs" / f"{comps.file_name(name)}.log"
        rec = None
        if self._forker is not None:  # a Python service, forked pre-imported (None: it cannot be)
            rec = self._forker.spawn(name, launch.argv, log, env=launch.env, cwd=self.settings.state_dir)
        if rec is None:
            rec = self.launcher.spawn(name, launch.argv, log, env=launch.env, cwd=self.settings.state_dir)
        self.report(name, "starting", f"pid {rec.pid}")
        st = st.with_proc(rec)
        state.save(self.settings.state_dir, st)
        return st

    def _start_when_needed(self, st: state.StackState, running: set[str], started: list[str]) -> None:
        """Start each component once what it needs is ready (startorder.needs: in parallel where
        the dependencies allow), until every one is ready, each on its own deadline."""
        order = [n for stage in comps.stages(self.topology) for n in stage if n in self.components]
        needs, waiting, ready = startorder.needs(self.topology, order), list(order), set[str]()
        pending: dict[str, float] = {}
        with httpx.Client() as client:

            def step() -> bool:
                nonlocal st
                held = self._forker is not None and self._forker.pending()  # still importing: services wait
                for name in [n for n in waiting if needs[n] <= ready and not (held and comps.kind(n) == "service")]:
                    waiting.remove(name)
                    if name in running:
                        self.report(name, "running", "already running")
                    else:
                        st = self._spawn(name, st)
                        started.append(name)
                    pending[name] = self.clock()
                ready.update(self._settle(pending, st, client))
                return not waiting and not pending

            # Each component's own deadline fails it inside _settle(); this bound only stops the loop.
            bound = sum(comps.READY_TIMEOUT[comps.kind(n)] for n in order) + POLL
            wait_until(step, bound, interval=POLL, clock=self.clock, sleep=self.sleep)

    def _wait_ready(self, names: list[str], st: state.StackState) -> None:
        """Poll every component in `names` until ready; fail fast when one exits, and each
        on its own deadline (its kind's READY_TIMEOUT)."""
        began = self.clock()
        pending = {n: began for n in names}
        bound = max((comps.READY_TIMEOUT[comps.kind(n)] for n in names), default=0.0) + POLL
        with httpx.Client() as client:

            def settle() -> bool:
                self._settle(pending, st, client)
                return not pending

            wait_until(settle, bound, interval=POLL, clock=self.clock, sleep=self.sleep)

    def _settle(self, pending: dict[str, float], st: state.StackState, client: httpx.Client) -> list[str]:
        """Probe each pending component once (`pending`: name -> when it started); drop and return
        the ready ones; fail one that exited or is past its kind's READY_TIMEOUT."""
        done = []
        for name, began in list(pending.items()):
            rec, limit = st.procs[name], comps.READY_TIMEOUT[comps.kind(name)]
            if self.launcher.process(rec) is None:
                self._fail(name, rec, f"exited ({self.launcher.exit_status(rec)})")
            result = self.probe(name, client, self.topology)
            if result.ok:
                self._after_ready(name, client)
                self.report(name, "ready", "")
                del pending[name]
                done.append(name)
            elif self.clock() - began >= limit:
                self._fail(name, rec, f"not ready after {limit:.0f} s: {result.reason}")
        return done

    def _after_ready(self, name: str, client: httpx.Client) -> None:
        if name != "toxiproxy":
            return
        # Proxies must exist before any service dials through them.
        url = f"{self.topology.url('toxiproxy')}/populate"
        try:
            resp = client.post(url, json=configs.toxiproxy_proxies(self.topology), timeout=5.0)
        except httpx.HTTPError as exc:
            raise StackUnavailable(f"toxiproxy: creating the proxies failed: {exc}") from exc
        if resp.status_code not in (200, 201):
            raise StackUnavailable(f"toxiproxy: creating the proxies failed: HTTP {resp.status_code} {resp.text[:300]}")
        regions.set_standing_toxics(client, self.topology.url("toxiproxy"), self.topology)  # cross-region latency

    def _stack_checks(self) -> list[tuple[str, Callable[[httpx.Client], health.Probe]]]:
        """Stack-wide readiness beyond each component's own health: every link
        proxied, every model server registered (the gateway can route at once), and
        Prometheus seeing every stack target up (the run marker excepted)."""
        checks: list[tuple[str, Callable[[httpx.Client], health.Probe]]] = []
        if "toxiproxy" in self.components:
            toxi, names = self.topology.url("toxiproxy"), tuple(link.proxy_name for link in self.topology.links)
            checks.append(("toxiproxy", lambda c: health.proxies(c, toxi, names)))
        servers = tuple(m.name for m in MODEL_SERVERS if m.name in self.components)
        if "registry" in self.components and servers:
            url = self.topology.url("registry")
            checks.append(("registry", lambda c: health.registered(c, url, servers)))
        if "prometheus" in self.components:
            jobs = tuple(configs.scrape_targets(self.topology, self.components))
            prom = self.topology.url("prometheus")
            checks.append(("prometheus", lambda c: health.prometheus_targets(c, prom, jobs)))
        return checks

    def _wait_for(self, name: str, check: Callable[[httpx.Client], health.Probe]) -> None:
        """Poll a stack-wide condition reported under component `name`."""
        with httpx.Client() as client:
            result = wait_until(lambda: check(client), STACK_CHECK_TIMEOUT, interval=POLL,
                                done=lambda probe: probe.ok, clock=self.clock, sleep=self.sleep)  # fmt: skip
        if not result.ok:
            self.report(name, "failed", result.reason)
            raise StackUnavailable(f"{name}: {result.reason} (after {STACK_CHECK_TIMEOUT:.0f} s)")
        self.report(name, "ready", result.reason)

    def _fail(self, name: str, rec: procs.ProcRecord, reason: str) -> None:
        self.report(name, "failed", reason)
        tail = procs.tail(rec.log, LOG_TAIL_LINES)
        raise StackUnavailable(f"{name} failed to start: {reason}\n--- last lines of {rec.log} ---\n{tail}")

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
        with httpx.Client() as client:
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
        busy = wait_until(lambda: self.launcher.listeners(wanted), grace, interval=POLL, done=lambda found: not found,
                          clock=self.clock, sleep=self.sleep)  # fmt: skip
        if busy:
            lines = [f"port {p} ({wanted[p]}) is in use by {self.launcher.describe(pid)}" for p, pid in sorted(busy.items())]
            raise StackUnavailable("cannot start the stack: " + "; ".join(lines))

    def _verify_ports_free(self, topo: Topology) -> None:
        busy = wait_until(lambda: self.launcher.listeners(comps.all_ports(topo)), 5.0, interval=POLL,
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
