"""The run (docs/architecture.md, "The data path of a run"), step by step:

stack ready -> steady state (before) -> load on -> phases (journal, inject,
verify, watch abort, revert in reverse order) -> load off -> steady state
(after) -> SLOs, traces -> RunReport.

Every fault comes out on every path: each phase reverts in its own `finally`,
load stops in the experiment's `finally`. Only the waits are interruptible
(runner.signals): a SIGINT/SIGTERM cuts a wait short once, every later signal
is acknowledged, so nothing on the way back to the last revert can be
skipped. Once the stack answered the preflight, the run always ends in a
RunReport: an interrupt gives a partial report marked `interrupted`, an
unexpected exception gives verdict `error` with what was gathered, an
observability backend lost mid-run fails only the checks that needed it.
`failure()` then says which error the CLI exits with (130, 4 or 3).
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from chaosctl.errors import ChaosctlError, Interrupted, StackUnavailable
from chaosctl.faults.base import FaultContext
from chaosctl.faults.catalogue import build_fault
from chaosctl.faults.journal import Journal
from chaosctl.report.model import RunReport
from chaosctl.settings import Settings
from chaosctl.verdict.model import Check, PhaseWindow

from .abort import AbortWatcher
from .early import TRACE_SETTLE_S, early_traces
from .lost import LostBackends, instant_query, name_lost_backend
from .outcome import build_report, describe_error, run_failure
from .phase import PhaseEnv, run_phase
from .scenario_glue import abort_conditions, load_plan, warmup_seconds
from .settle import wait_scraped
from .signals import RunInterrupted, SignalGuard
from .startup import Background, accepts_connection, warm_imports
from .steady import check_steady_state

if TYPE_CHECKING:
    from chaosctl.observe.prometheus import Prometheus
    from chaosctl.scenario.model import Scenario

    from .analysis import Analysis

STEADY_BEFORE_WAIT_S = 5.0
STEADY_AFTER_WAIT_S = 30.0  # the system may still be recovering from the last revert
SPAWN_TIMEOUT_S = 30.0  # distributed workers need a few seconds to connect to the master


@dataclass
class RunState:
    """What the run has gathered so far (the report is built from it)."""

    started: float = field(default_factory=time.time)
    windows: list[PhaseWindow] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    aborted: bool = False
    revert_failed: bool = False
    interrupted: str | None = None  # the signal's name
    error: BaseException | None = None  # the unexpected exception that ended the run
    lost: LostBackends = field(default_factory=LostBackends)
    client: Any = None  # load.client.ClientHistory: what the load's clients saw, for the availability SLOs
    phase_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # where the overhead goes
    early: Any = None  # runner.early.EarlyTraces of the run, if its System has traces

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + time.monotonic() - t0


def _new_prometheus(url: str) -> "Prometheus":
    from chaosctl.observe.prometheus import Prometheus

    return Prometheus(url)


def _analyse(*args: Any, **kwargs: Any) -> "Analysis":
    from .analysis import analyse

    return analyse(*args, **kwargs)


@dataclass(frozen=True)
class RunDeps:
    """The outside world of a run: real by default, small fakes in unit tests."""

    preflight: Callable[[Any, Any], None] | None = None  # (FaultContext, Topology); None: system.runtime.preflight
    prometheus: Callable[[str], Any] = _new_prometheus
    jaeger: Callable[[str], Any] | None = None  # None: observe.jaeger.Jaeger
    telemetry: Callable[["Run"], Any] | None = None  # None: RunTelemetry
    load: Callable[["Run"], Any] | None = None  # None: LocustRun
    analyse: Callable[..., "Analysis"] = _analyse
    build: Callable[[Any, FaultContext], Any] = build_fault
    settle_s: float = 1.0  # at most: until every target was scraped once with the load running (settle.py)
    reachable: Callable[[str], bool] = accepts_connection  # the load's target up: Locust starts before the pre-flight
    trace_settle_s: float = TRACE_SETTLE_S  # a phase's traces are read early only this long after its end (runner.early)


class Run:
    def __init__(self, scenario: "Scenario", settings: Settings, echo: Callable[[str], None] = print,
                 fault_ctx: FaultContext | None = None, deps: RunDeps | None = None, live: str = "off") -> None:
        self.scenario = scenario
        self.live_mode = live  # runner.live: "rich" | "plain" | "off"
        self.settings = settings
        self.echo = echo
        self.ctx = fault_ctx or FaultContext.for_settings(settings)
        from chaosctl.system.runtime import system_topology

        self.system = self.ctx.resolved_system  # what the run reaches: the reference System when the scenario names none
        self.topology = system_topology(self.ctx)  # its addresses behind the Topology the probes and telemetry take
        self.journal = Journal(settings.journal_path)
        self.state = RunState()
        self.deps = deps or RunDeps()
        self._load: Any = None  # the gated Locust started before the steady state (None: after it)

    # -- the whole run ---------------------------------------------------------------

    def execute(self, guard: SignalGuard) -> RunReport:
        """The run under the caller's SignalGuard. Raises (nothing was touched) only when the
        stack is not ready, faults of an earlier run are in the journal, or a signal came first."""
        try:
            prom, tel = self._prepare(guard)
        except RunInterrupted as exc:
            self._discard(self._load, guard)
            self.ctx.close()
            raise Interrupted(f"interrupted by {exc} before any fault was injected") from None
        except BaseException:
            self._discard(self._load, guard)
            self.ctx.close()
            raise
        closing: Background | None = None
        try:
            self.guarded(lambda: self._experiment(prom, tel, guard, self._load))
            closing = Background(tel.close, "close-telemetry")  # beside the analysis: nothing there reads it
            return self._report(prom, guard, time.time())
        finally:
            with guard.shield():  # closing telemetry and the journal must not be cut short either
                early = self.state.early.close if self.state.early is not None else (lambda: None)
                for close in (closing.join if closing else tel.close, early, self.journal.clear_if_done, self.ctx.close):
                    try:
                        close()
                    except Exception as exc:  # noqa: BLE001 - the report in hand must not be lost to it
                        self.echo(f"while closing the run: {describe_error(exc)}")

    def _prepare(self, guard: SignalGuard) -> tuple[Any, Any]:
        """Pre-flight, leftovers, the gated Locust (self._load: before the pre-flight when the
        load's target is up, else after it), Prometheus and the run's telemetry."""
        st = self.state
        up = self.deps.reachable(self._load_url())
        if up:
            with guard.interruptible(), st.timed("preflight"):
                self._stop_orphans()  # before a Locust of this run is started
            with guard.shield():  # a signal meanwhile is raised in execute, once this Locust is ours to stop
                self._load = self._early_load()
        side = Background(lambda: (self.deps.prometheus(self.topology.url("prometheus")), self._telemetry()),
                          "run-observers")  # beside the pre-flight, which mostly waits on the stack
        try:
            with guard.interruptible(), st.timed("preflight"):
                self._preflight()
                if not up:
                    self._stop_orphans()
                self._refuse_leftovers()
            if self._load is None:
                with guard.shield():
                    self._load = self._early_load()
        except BaseException:
            with guard.shield():
                _close_quietly(side)
            raise
        with guard.interruptible(), st.timed("preflight"):
            return side.join()

    def guarded(self, work: Callable[[], None]) -> None:
        """Run `work`; an interrupt or an unexpected exception is recorded, not raised
        (the faults are out by then: every phase reverts in its own finally)."""
        try:
            work()
        except RunInterrupted as exc:
            self.state.interrupted = str(exc)
        except Exception as exc:  # noqa: BLE001 - the run ends in a report with verdict error
            self.state.error = exc
            self.echo(f"run failed: {describe_error(exc)}; writing the report with what was gathered")

    def _preflight(self) -> None:
        if self.deps.preflight is not None:
            self.deps.preflight(self.ctx, self.topology)
            return
        from chaosctl.system.runtime import preflight

        preflight(self.ctx, self.topology, self.scenario)

    def _stop_orphans(self) -> None:
        from chaosctl.load.locust_run import stop_orphans

        for pid in stop_orphans(load_pidfile(self.settings)):
            self.echo(f"stopped Locust process group {pid} left by an interrupted run")

    def _load_url(self) -> str:
        from chaosctl.system.runtime import load_url

        try:
            return load_url(self.system)
        except StackUnavailable:  # no load section: the pre-flight says so
            return ""

    def _refuse_leftovers(self) -> None:
        left = self.journal.pending()
        if left:
            names = ", ".join(r.label for r in left)
            raise ChaosctlError(f"the fault journal {self.journal.path} says these may still be in place: {names}; "
                                "run `chaosctl recover` first")

    def _telemetry(self) -> Any:
        if self.deps.telemetry is not None:
            tel = self.deps.telemetry(self)
        else:
            from chaosctl.observe.grafana import annotator_from_settings

            from .telemetry import RunTelemetry

            from chaosctl.system.runtime import uses_stack

            tel = RunTelemetry(self.scenario.name, self.topology, grafana=annotator_from_settings(self.settings),
                               export=uses_stack(self.system))  # the run's spans go to the stack's collector only
        tel.start()
        self.state.notes.extend(tel.notes)
        return tel

    def _experiment(self, prom: Any, tel: Any, guard: SignalGuard, early: Any = None) -> None:
        st, probes = self.state, self.scenario.steady_state
        try:
            with guard.interruptible(), st.timed("steady state"):
                before = check_steady_state(probes, "before", self.topology, prom.query, STEADY_BEFORE_WAIT_S,
                                            lost=st.lost)
        except BaseException:
            self._discard(early, guard)
            raise
        st.checks.extend(before)
        if not all(c.passed for c in before):
            self._discard(early, guard)
            self.echo("steady state does not hold before the run: no fault injected")
            return
        load = early or self._new_load()
        try:
            with guard.interruptible(), st.timed("load start"):
                self._start_load(load, prom, gated=early is not None)
            live = self._live_view(prom, load)
            warm_imports()  # the analysis' and the reports' modules, while the phases wait
            try:
                self._phases(prom, tel, guard, live.model)
            finally:
                live.stop()
        finally:
            with guard.shield(), st.timed("load stop"):  # stopping load is part of putting things back
                load.stop()
                st.client = load.client_history() if hasattr(load, "client_history") else None  # per-phase client view
                result = load.result()
                st.notes.append(result.describe())
                self.echo(result.describe())
        if st.interrupted is None and guard.received is None:
            with guard.interruptible(), st.timed("steady state"):
                st.checks.extend(check_steady_state(probes, "after", self.topology, prom.query, STEADY_AFTER_WAIT_S,
                                                    lost=st.lost))

    def _new_load(self) -> Any:
        if self.deps.load is not None:
            return self.deps.load(self)
        from chaosctl.load.locust_run import LocustRun

        warmup = warmup_seconds(self.scenario)
        margin = 120.0 + 30.0 * sum(len(p.faults) for p in self.scenario.phases)
        run_dir = self.settings.run_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.scenario.name}"
        from chaosctl.system.runtime import load_url

        base = self.ctx.system_path.parent if self.ctx.system_path is not None else None
        return LocustRun(load_plan(self.scenario, warmup, self.system, base), load_url(self.system),
                         warmup + self.scenario.total_seconds + margin, run_dir / "load", self.settings.jwt_secret,
                         pidfile=load_pidfile(self.settings))

    def _early_load(self) -> Any:
        """Locust started now, gated (its users spawn, nothing is sent until the steady state
        held): its start overlaps the pre-flight (when the load's target is up), the telemetry's
        start and the steady-state probes. None for a load shape (its clock starts
        with Locust) or when it cannot start here: it then starts after the steady state, as
        before, where a failure ends the run with verdict error."""
        load = None
        try:
            with self.state.timed("load start"):
                load = self._new_load()
                if load.plan.stages:
                    return None
                load.start(gated=True)
            return load
        except Exception:  # noqa: BLE001 - tried again after the steady state, where it is reported
            self._discard(load, None)
            return None

    def _discard(self, load: Any, guard: SignalGuard | None) -> None:
        if load is not None:
            with guard.shield() if guard is not None else nullcontext():
                load.discard()

    def _start_load(self, load: Any, prom: Any, gated: bool = False) -> None:
        """Start Locust (open its gate) and wait until its users run, so the first phase is not a ramp.
        The scrape wait counts from the gate's opening (the counters do not move before the first
        request, so a scrape after it samples the running load): it mostly passes during the spawn wait."""
        plan = load.plan
        opened = time.time()
        load.open_gate() if gated else load.start()
        target = plan.stages[0].users if plan.stages else plan.users
        self.echo(f"load: {plan.users} users ({plan.workers} worker process(es)); waiting until they run")
        t0, limit = time.monotonic(), SPAWN_TIMEOUT_S + warmup_seconds(self.scenario)
        if not load.wait_spawned(target, timeout_s=limit):
            self.state.notes.append(f"Locust did not reach {target} users within {limit:.0f}s")
        from chaosctl.system.runtime import sli_jobs

        note = wait_scraped(prom, opened if gated else time.time(), self.deps.settle_s, sli_jobs(self.system))
        if note:
            self.state.notes.append(note)
        self.echo(f"load: running after {time.monotonic() - t0:.1f}s")

    def _live_view(self, prom: Any, load: Any) -> Any:
        from .live import start_for_run

        return start_for_run(self.live_mode, abort_conditions(self.scenario, self.system), self.journal, prom, load,
                             self.scenario.total_seconds)

    def _phases(self, prom: Any, tel: Any, guard: SignalGuard, live: Any = None) -> None:
        st = self.state
        watcher = AbortWatcher(abort_conditions(self.scenario, self.system), query=instant_query(prom, st.notes, st.lost))
        env = PhaseEnv(self.ctx, self.journal, guard, watcher, tel, self.echo, build=self.deps.build)
        remaining = self.scenario.total_seconds
        early = st.early = early_traces(self)  # each finished phase's traces read while the next ones run
        for i, phase in enumerate(self.scenario.phases):
            if live is not None:
                live.phase_started(phase.name, phase.duration, remaining)
            remaining -= phase.duration
            with tel.phase(phase.name):
                outcome = run_phase(phase, env)
            st.stage_seconds["revert"] = st.stage_seconds.get("revert", 0.0) + max(0.0, time.time() - outcome.window.end)
            st.windows.append(outcome.window)
            st.checks.extend(name_lost_backend(outcome.checks, st.lost))
            st.notes.extend(outcome.revert_errors)
            st.phase_seconds += phase.duration
            st.revert_failed |= bool(outcome.revert_errors)
            if outcome.error is not None:
                st.error = outcome.error
                self.echo(f"run failed: {describe_error(outcome.error)}; writing the report with what was gathered")
            if outcome.trip is not None:
                st.aborted = True
                st.notes.append(outcome.trip.reason)
            if outcome.interrupted is not None or guard.received is not None:  # a signal during a revert counts too
                st.interrupted = outcome.interrupted or guard.signal_name
                st.notes.append(f"interrupted by {st.interrupted} in phase {phase.name!r}: partial report")
            if outcome.stop_run or st.interrupted:
                break
            if early is not None and i + 1 < len(self.scenario.phases):  # the last one: after the run, as before
                early.phase_ended(outcome.window.start, outcome.window.end)

    # -- after the run (runner.outcome) ----------------------------------------------------

    def _report(self, prom: Any, guard: SignalGuard, ended: float) -> RunReport:
        return build_report(self, prom, guard, ended)

    def failure(self, report: RunReport) -> ChaosctlError | None:
        """The error the CLI exits with once the reports are written (None: exit by verdict)."""
        return run_failure(self.state, self.journal, report)


def _close_quietly(side: Background) -> None:
    """The telemetry made beside a pre-flight that failed: closed, its own error dropped (the
    pre-flight's is the one raised)."""
    try:
        _, tel = side.join()
        tel.close()
    except Exception:  # noqa: BLE001
        pass


def load_pidfile(settings: Settings) -> Path:
    return settings.state_dir / "load.pids"
