"""Starting the local stack: `up`'s stages, the fork server, readiness probes and stack checks.

`StackStarter` is the half of `local.LocalBackend` that brings components up: each starts as
soon as what it needs is ready (startorder.py), the slowest first, Python services forked from
the fork server (forkserver.py) when it can; every wait runs on the backend's clock and sleep.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings
from chaosctl.stack import components as comps
from chaosctl.stack import configs, forkserver, health, procs, regions, startorder, state
from chaosctl.stack.backend import Reporter
from chaosctl.stack.topology import MODEL_SERVERS, Topology
from chaosctl.waiting import Clock, Sleep, wait_until

# Probe interval while waiting. 0.1 s was measured no faster (cold up 10.40 s against 10.10 s at
# load 4-5): the probes' own CPU (every pending service answers each one) costs what it saves.
POLL = 0.25
RETRY_MARGIN = 0.01  # past a warming component's own "ready in": its clock and ours are the host's
LOG_TAIL_LINES = 25
STACK_CHECK_TIMEOUT = 40.0  # registrations, Prometheus targets
STACK_POLL = 0.05
RESTART_POLL = 0.1
PROBES_AT_ONCE = 8
ROUND_WAIT = 0.2  # what a round of `up`'s probes waits for answers at most (a healthy component answers in ms)
Probe = Callable[[str, httpx.Client, Topology], health.Probe]  # comps.probe: is component NAME ready?
# forkserver.ForkServer, or a fake: spawn() -> a ProcRecord, or None (not forked); pending() -> bool;
# optionally wait(seconds) -> bool: the poll's sleep while it imports, cut short once it can fork
Forker = Any
Forks = Callable[[], Any]  # -> a context manager giving a Forker or None


@contextmanager
def _no_forks() -> Iterator[None]:
    yield None


class StackStarter:
    """Mixed into LocalBackend, which sets these attributes and gives the methods below."""

    settings: Settings
    components: tuple[str, ...]
    topology: Topology
    launcher: procs.Launcher
    probe: Probe
    clock: Clock
    sleep: Sleep
    report: Reporter
    forks: Forks
    _forker: Forker | None
    _last_probes: dict[str, health.Probe]  # of the components still pending: their latest answer
    _probes: ThreadPoolExecutor | None  # during `up`'s start: what probes the pending components at once
    _asking: dict[str, futures.Future[health.Probe]]  # probes of `up` not answered yet (carried to the next round)
    _round_began: float  # when `up`'s current round of starts and probes began (its clock)

    def _check_ports_free(self, names: list[str]) -> None:
        raise NotImplementedError  # LocalBackend's

    def _reset_partial_etcd(self) -> None:
        raise NotImplementedError  # LocalBackend's

    def _stop_started(self, started: list[str]) -> None:
        raise NotImplementedError  # LocalBackend's

    def _remove_data(self) -> None:
        raise NotImplementedError  # LocalBackend's

    def _start_stages(self, st: state.StackState, running: set[str]) -> None:
        """Start what is missing, stage by stage; on any failure stop what this call started."""
        started: list[str] = []
        todo_all = [n for n in self.components if n not in running]
        services = sum(comps.kind(n) == "service" for n in todo_all)  # forking pays from the second on
        with ExitStack() as closing:
            # One client for every probe of this `up`, made on first use, after the first spawns: making
            # it imports httpcore (~0.1 s), which Prometheus's start (the last wait of `up`) should not wait behind.
            client = functools.cache(lambda: closing.enter_context(health.client()))
            self._probes = closing.enter_context(ThreadPoolExecutor(PROBES_AT_ONCE, thread_name_prefix="probe"))
            # The fork server first: its imports are the longest pole of `up`; the checks run meanwhile.
            with self.forks() if services > 1 else _no_forks() as forker:
                self._check_startable(todo_all, running)  # fail before starting anything
                try:
                    self._forker = forker
                    self._start_when_needed(st, running, started, client)
                except BaseException:
                    self._undo_start(started, running)
                    raise
                finally:
                    self._forker = None
                    self._probes = None
            try:
                for name, check in self._stack_checks():
                    self._wait_for(name, check, client())
            except BaseException:
                self._undo_start(started, running)
                raise

    def _check_startable(self, todo: list[str], running: set[str]) -> None:
        self._check_ports_free(todo)
        missing = comps.missing_binaries(todo, self.settings)
        if missing:
            raise StackUnavailable("cannot start the stack, missing: " + "; ".join(missing))
        if not running & set(self.topology.etcd_members):
            self._reset_partial_etcd()

    def _undo_start(self, started: list[str], running: set[str]) -> None:
        self._stop_started(started)
        if not running:
            self._remove_data()  # nothing ran before: leave no half-bootstrapped cluster

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

    def _start_when_needed(self, st: state.StackState, running: set[str], started: list[str],
                           client: Callable[[], httpx.Client]) -> None:
        """Start each component once what it needs is ready (startorder.needs: in parallel where
        the dependencies allow), until every one is ready, each on its own deadline."""
        order = [n for stage in comps.stages(self.topology) for n in stage if n in self.components]
        needs, waiting, ready = startorder.needs(self.topology, order), list(order), set[str]()
        pending: dict[str, float] = {}
        self._last_probes, self._asking = {}, {}

        def start_startable() -> None:
            nonlocal st
            held = self._forker is not None and self._forker.pending()  # still importing: services wait
            startable = [n for n in waiting if needs[n] <= ready and not (held and comps.kind(n) == "service")]
            for name in startorder.first(startable):
                waiting.remove(name)
                if name in running:
                    self.report(name, "running", "already running")
                else:
                    st = self._spawn(name, st)
                    started.append(name)
                pending[name] = self.clock()

        def step() -> bool:
            self._round_began = self.clock()
            start_startable()
            got = self._settle(pending, st, client())
            while got:  # what waited for these starts now, not a poll later (the gateway on the registry)
                ready.update(got)
                before = len(pending)
                start_startable()
                got = self._settle(pending, st, client()) if len(pending) > before else []
            return not waiting and not pending

        # Each component's own deadline fails it inside _settle(); this bound only stops the loop.
        bound = sum(comps.READY_TIMEOUT[comps.kind(n)] for n in order) + POLL
        wait_until(step, bound, interval=POLL, clock=self.clock, sleep=self._pause)

    def _pause(self, seconds: float) -> None:
        """The poll's sleep, cut short when the fork server gets ready (the services held for it
        start at once, not up to POLL later) or when a warming component said it would be ready
        sooner (the GPU model servers' warm-up is the tail of `up`). A forker without `wait` (a
        test's fake, on the fake clock) leaves the backend's sleep."""
        # A poll every POLL, not POLL after a round: a round lasts as long as its slowest probe (etcd
        # without a leader answers nothing for ETCD_TIMEOUT's read timeout).
        seconds = max(seconds - (self.clock() - self._round_began), RETRY_MARGIN)
        wait = getattr(self._forker, "wait", None)
        if wait is not None and wait(seconds):
            return
        soonest = min((p.retry_in for p in self._last_probes.values() if p.retry_in is not None), default=None)
        self.sleep(seconds if soonest is None else min(seconds, soonest + RETRY_MARGIN))

    def _wait_ready(self, names: list[str], st: state.StackState) -> None:
        """Poll every component in `names` until ready; fail fast when one exits, and each
        on its own deadline (its kind's READY_TIMEOUT)."""
        began = self.clock()
        pending = {n: began for n in names}
        self._last_probes = {}
        bound = max((comps.READY_TIMEOUT[comps.kind(n)] for n in names), default=0.0) + POLL
        with health.client() as client:

            def settle() -> bool:
                self._settle(pending, st, client)
                return not pending

            # One component (a fault's revert, `chaosctl start`): asking it more often than `up` asks its
            # many costs little, and its probe client no longer takes ~0.1 s to make (an etcd member's
            # restart was seen a whole POLL after it was ready: 0.29 against 0.13-0.2 s).
            wait_until(settle, bound, interval=RESTART_POLL, clock=self.clock, sleep=self.sleep)

    def _settle(self, pending: dict[str, float], st: state.StackState, client: httpx.Client) -> list[str]:
        """Probe each pending component once (`pending`: name -> when it started); drop and return
        the ready ones; fail one that exited or is past its kind's READY_TIMEOUT."""
        done, names = [], list(pending)
        for name in names:
            if self.launcher.process(st.procs[name]) is None:
                self._fail(name, st.procs[name], f"exited ({self.launcher.exit_status(st.procs[name])})")
        answers = self._answers(names, client)
        for name in names:
            began, result = pending[name], answers.get(name, health.Probe(False, "no answer yet"))
            rec, limit = st.procs[name], comps.READY_TIMEOUT[comps.kind(name)]
            self._last_probes[name] = result
            if result.ok:
                self._after_ready(name, client)
                self.report(name, "ready", "")
                del pending[name]
                del self._last_probes[name]
                done.append(name)
            elif self.clock() - began >= limit:
                self._fail(name, rec, f"not ready after {limit:.0f} s: {result.reason}")
        return done

    def _answers(self, names: list[str], client: httpx.Client) -> dict[str, health.Probe]:
        """This round's answers. In `up` (a pool) every pending component is asked at once and the
        round waits at most ROUND_WAIT: one that has not answered yet (etcd answers nothing before
        its cluster has a leader) is still being asked next round and holds none of the others, nor
        the next poll, back. Alone (`start`), a component is asked and waited for."""

        def probe(name: str) -> health.Probe:
            return self.probe(name, client, self.topology)

        if self._probes is None:
            return {name: probe(name) for name in names}
        for name in names:
            if name not in self._asking:
                self._asking[name] = self._probes.submit(probe, name)
        futures.wait([self._asking[n] for n in names], timeout=ROUND_WAIT)
        return {n: self._asking.pop(n).result() for n in names if self._asking[n].done()}

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

    def _wait_for(self, name: str, check: Callable[[httpx.Client], health.Probe], client: httpx.Client) -> None:
        """Poll a stack-wide condition reported under component `name`: more often than the
        components (one cheap request, and the last wait of `up`: Prometheus's first scrapes)."""
        result = wait_until(lambda: check(client), STACK_CHECK_TIMEOUT, interval=STACK_POLL,
                            done=lambda probe: probe.ok, clock=self.clock, sleep=self.sleep)  # fmt: skip
        if not result.ok:
            self.report(name, "failed", result.reason)
            raise StackUnavailable(f"{name}: {result.reason} (after {STACK_CHECK_TIMEOUT:.0f} s)")
        self.report(name, "ready", result.reason)

    def _fail(self, name: str, rec: procs.ProcRecord, reason: str) -> None:
        self.report(name, "failed", reason)
        tail = procs.tail(rec.log, LOG_TAIL_LINES)
        raise StackUnavailable(f"{name} failed to start: {reason}\n--- last lines of {rec.log} ---\n{tail}")
