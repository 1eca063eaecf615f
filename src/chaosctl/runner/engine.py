"""The run of DESIGN.md §4, step by step:

stack ready -> steady state (before) -> load on -> phases (journal, inject,
verify, watch abort, revert in reverse order) -> load off -> steady state
(after) -> SLOs, traces -> RunReport.

Every fault comes out on every path: each phase reverts in its own `finally`
(shielded from signals), load stops in the run's `finally`; a SIGINT/SIGTERM
becomes `Interrupted` (exit 130) only after that.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from chaosctl.errors import ChaosctlError, Interrupted
from chaosctl.faults.base import FaultContext
from chaosctl.faults.journal import Journal
from chaosctl.report.model import RunReport
from chaosctl.settings import Settings
from chaosctl.verdict.model import Check, PhaseWindow

from .abort import AbortWatcher
from .phase import PhaseEnv, run_phase
from .scenario_glue import abort_conditions, load_plan, warmup_seconds
from .signals import RunInterrupted, SignalGuard
from .steady import check_steady_state, preflight

if TYPE_CHECKING:
    from chaosctl.load.locust_run import LocustRun
    from chaosctl.observe.prometheus import Prometheus
    from chaosctl.scenario.model import Scenario

    from .telemetry import RunTelemetry

STEADY_BEFORE_WAIT_S = 5.0
STEADY_AFTER_WAIT_S = 30.0
SPAWN_TIMEOUT_S = 30.0  # distributed workers need a few seconds to connect to the master  # the system may still be recovering from the last revert


@dataclass
class RunState:
    """What the run has gathered so far (the report is built from it)."""

    started: float = field(default_factory=time.time)
    windows: list[PhaseWindow] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    aborted: bool = False
    revert_failed: bool = False
    client: object = None  # load.client.ClientHistory: what the load's clients saw, for the availability SLOs
    phase_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # where the overhead goes

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + time.monotonic() - t0


class Run:
    def __init__(self, scenario: "Scenario", settings: Settings, echo: Callable[[str], None] = print,
                 fault_ctx: FaultContext | None = None) -> None:
        self.scenario = scenario
        self.settings = settings
        self.echo = echo
        self.ctx = fault_ctx or FaultContext.for_settings(settings)
        self.topology = self.ctx.topology
        self.journal = Journal(settings.journal_path)
        self.state = RunState()

    # -- the whole run ---------------------------------------------------------------

    def execute(self) -> RunReport:
        """The whole run under one SignalGuard, so that SIGINT/SIGTERM at any moment
        (even before the first fault) ends in the same orderly way: exit 130."""
        with SignalGuard() as guard:
            try:
                return self._execute(guard)
            except RunInterrupted as exc:
                left = self.journal.pending()
                if left:
                    raise Interrupted(f"interrupted by {exc}; could not revert {', '.join(r.label for r in left)}: "
                                      "run `chaosctl recover`") from None
                raise Interrupted(f"interrupted by {exc}; every fault was reverted") from None

    def _execute(self, guard: SignalGuard) -> RunReport:
        from chaosctl.observe.prometheus import Prometheus

        with self.state.timed("preflight"):
            preflight(self.ctx.backend, self.topology)
            self._refuse_leftovers()
            prom = Prometheus(self.topology.url("prometheus"))
            tel = self._telemetry()
        try:
            self._experiment(prom, tel, guard)
            return self._report(prom, time.time())
        finally:
            with guard.shield():  # closing telemetry and the journal must not be cut short either
                tel.close()
                self.journal.clear_if_done()
                self.ctx.close()

    def _refuse_leftovers(self) -> None:
        from chaosctl.load.locust_run import stop_orphans

        for pid in stop_orphans(load_pidfile(self.settings)):
            self.echo(f"stopped Locust process group {pid} left by an interrupted run")
        left = self.journal.pending()
        if left:
            names = ", ".join(r.label for r in left)
            raise ChaosctlError(f"the fault journal {self.journal.path} says these may still be in place: {names}; "
                                "run `chaosctl recover` first")

    def _telemetry(self) -> "RunTelemetry":
        from chaosctl.observe.grafana import annotator_from_settings

        from .telemetry import RunTelemetry

        tel = RunTelemetry(self.scenario.name, self.topology, grafana=annotator_from_settings(self.settings))
        tel.start()
        self.state.notes.extend(tel.notes)
        return tel

    def _experiment(self, prom: "Prometheus", tel: "RunTelemetry", guard: SignalGuard) -> None:
        probes = self.scenario.steady_state
        with self.state.timed("steady state"):
            before = check_steady_state(probes, "before", self.topology, prom.query, STEADY_BEFORE_WAIT_S)
        self.state.checks.extend(before)
        if not all(c.passed for c in before):
            self.echo("steady state does not hold before the run: no fault injected")
            return
        load = self._new_load()
        try:
            with self.state.timed("load start"):
                self._start_load(load)
            self._phases(prom, tel, guard)
        finally:
            with guard.shield(), self.state.timed("load stop"):  # stopping load is part of putting things back
                load.stop()
                self.state.client = load.client_history()  # per-phase client view
                result = load.result()
                self.state.notes.append(result.describe())
                self.echo(result.describe())
        with self.state.timed("steady state"):
            self.state.checks.extend(check_steady_state(probes, "after", self.topology, prom.query, STEADY_AFTER_WAIT_S))

    def _new_load(self) -> "LocustRun":
        from chaosctl.load.locust_run import LocustRun

        warmup = warmup_seconds(self.scenario)
        margin = 120.0 + 30.0 * sum(len(p.faults) for p in self.scenario.phases)
        run_dir = self.settings.run_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.scenario.name}"
        return LocustRun(load_plan(self.scenario, warmup), self.topology.url("gateway"),
                         warmup + self.scenario.total_seconds + margin, run_dir / "load", self.settings.jwt_secret,
                         pidfile=load_pidfile(self.settings))

    def _start_load(self, load: "LocustRun") -> None:
        """Start Locust and wait until its users run, so the first phase is not a ramp."""
        plan = load.plan
        load.start()
        target = plan.stages[0].users if plan.stages else plan.users
        self.echo(f"load: {plan.users} users ({plan.workers} worker process(es)); waiting until they run")
        t0, limit = time.monotonic(), SPAWN_TIMEOUT_S + warmup_seconds(self.scenario)
        if not load.wait_spawned(target, timeout_s=limit):
            self.state.notes.append(f"Locust did not reach {target} users within {limit:.0f}s")
        time.sleep(1.0)  # one scrape of the running load before the first phase
        self.echo(f"load: running after {time.monotonic() - t0:.1f}s")

    def _phases(self, prom: "Prometheus", tel: "RunTelemetry", guard: SignalGuard) -> None:
        watcher = AbortWatcher(abort_conditions(self.scenario), query=_instant(prom, self.state.notes))
        env = PhaseEnv(self.ctx, self.journal, guard, watcher, tel, self.echo)
        for phase in self.scenario.phases:
            with tel.phase(phase.name):
                outcome = run_phase(phase, env)
            self.state.windows.append(outcome.window)
            self.state.checks.extend(outcome.checks)
            self.state.notes.extend(outcome.revert_errors)
            self.state.phase_seconds += phase.duration
            self.state.revert_failed |= bool(outcome.revert_errors)
            if outcome.trip is not None:
                self.state.aborted = True
                self.state.notes.append(outcome.trip.reason)
            if outcome.stop_run:
                break

    # -- after the run -----------------------------------------------------------------

    def _report(self, prom: "Prometheus", ended: float) -> RunReport:
        from chaosctl.observe.jaeger import Jaeger

        from .analysis import Analysis, analyse

        st = self.state
        analysis = Analysis((), {}, (), (), ())
        if st.windows:
            jaeger = Jaeger(self.topology.url("jaeger"))
            try:
                with st.timed("analysis"):
                    analysis = analyse(self.scenario, st.windows, prom, jaeger, st.started, ended, client=st.client,
                                       min_coverage=self.settings.coverage_threshold)
            finally:
                jaeger.close()
        checks = tuple(st.checks) + analysis.checks
        phases = sum(w.seconds for w in st.windows)
        overhead = (time.time() - st.started) - phases
        where = ", ".join(f"{k} {v:.1f}s" for k, v in st.stage_seconds.items())
        notes = (*st.notes, *analysis.notes, f"run overhead: {overhead:.1f}s beyond the phases' {phases:.1f}s ({where})")
        return RunReport(scenario=self.scenario.name, verdict=self._verdict(checks), started=st.started, ended=ended,
                         phases=tuple(st.windows), checks=checks, bottlenecks=analysis.bottlenecks,
                         findings=analysis.findings, series=analysis.series, notes=notes)

    def _verdict(self, checks: tuple[Check, ...]) -> str:
        if self.state.revert_failed:
            return "error"
        if self.state.aborted:
            return "aborted"
        if any(not c.passed for c in checks):
            return "fail"
        return "pass"


def _instant(prom: "Prometheus", notes: list[str]) -> Callable[[str], "float | None"]:
    """Instant query for the abort watcher; a query Prometheus rejects counts as no data (noted once)."""
    def query(expr: str) -> float | None:
        try:
            return prom.query(expr, time.time())
        except ValueError as exc:  # QueryRejected / MultipleSeries
            msg = f"abort condition query not usable: {exc}"
            if msg not in notes:
                notes.append(msg)
            return None
    return query


def load_pidfile(settings: Settings) -> Path:
    return settings.state_dir / "load.pids"
