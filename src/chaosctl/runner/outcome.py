"""After the phases (runner.engine runs them): the analysis, the verdict, the RunReport and the
error the CLI exits with. The rule of the split: engine.py acts on the system, this module only
reads what the run gathered (RunState) and the observability backends."""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosctl.errors import ChaosctlError, Interrupted, RunFailed, StackUnavailable
from chaosctl.report.model import RunReport
from chaosctl.scenario.schedule import schedules_of
from chaosctl.verdict.model import Check

if TYPE_CHECKING:
    from chaosctl.faults.journal import Journal

    from .analysis import Analysis
    from .engine import Run, RunState
    from .signals import SignalGuard

JUDGED = ("slo", "trace", "steady_state")  # the kinds that judge the system, not the run's own mechanics
NOTHING_TO_JUDGE = Check("slo", "nothing to judge", "run", "fail", "0 SLO, trace or steady-state checks",
                         "at least one", "the scenario judges nothing: add slos, traces or steady_state")


def build_report(run: "Run", prom: Any, guard: "SignalGuard", ended: float) -> RunReport:
    from .analysis import Analysis

    st = run.state
    analysis = Analysis((), {}, (), (), ())
    if st.windows and st.interrupted is None and guard.received is None:
        analysis = _analysis(run, prom, guard, ended) or analysis
    if st.interrupted is None and guard.received is not None:
        st.interrupted = guard.signal_name
        st.notes.append(f"interrupted by {st.interrupted} after the phases: partial report")
    checks = tuple(st.checks) + analysis.checks
    if st.interrupted is None and st.error is None and not any(c.kind in JUDGED for c in checks):
        checks += (NOTHING_TO_JUDGE,)  # fault-landed checks alone say nothing about the system
    phases = sum(w.seconds for w in st.windows)
    overhead = (time.time() - st.started) - phases
    where = ", ".join(f"{k} {v:.1f}s" for k, v in st.stage_seconds.items())
    notes = (*st.notes, *analysis.notes, f"run overhead: {overhead:.1f}s beyond the phases' {phases:.1f}s ({where})")
    if st.lost:
        notes = (*notes, f"observability backend lost during the run: {'; '.join(st.lost.lost.values())}")
    return RunReport(scenario=run.scenario.name, verdict=verdict(st, checks), started=st.started, ended=ended,
                     phases=analysis.windows or tuple(st.windows), checks=checks, bottlenecks=analysis.bottlenecks,
                     findings=analysis.findings, series=analysis.series, notes=notes,
                     interrupted=st.interrupted is not None,
                     error=describe_error(st.error) if st.error is not None else "",
                     schedules=schedules_of(run.scenario))


def _analysis(run: "Run", prom: Any, guard: "SignalGuard", ended: float) -> "Analysis | None":
    """SLOs and traces; interruptible (a partial report follows) and never fatal."""
    st = run.state
    jaeger = jaeger_for(run)
    if st.early is not None:  # windows read while the phases ran are handed over (runner.early)
        jaeger = st.early.wrap(jaeger)
    result: list[Analysis] = []
    try:
        with guard.interruptible(), st.timed("analysis"):
            run.guarded(lambda: result.append(
                run.deps.analyse(run.scenario, st.windows, prom, jaeger, st.started, ended, lost=st.lost,
                                 system=run.system, client=st.client,
                                 min_coverage=run.settings.coverage_threshold)))
    finally:
        jaeger.close()
    return result[0] if result else None


def jaeger_for(run: "Run") -> Any:
    if run.system.observability.jaeger is None:  # a System without traces: no bottleneck analysis
        from chaosctl.system.runtime import NoTraces

        return NoTraces()
    if run.deps.jaeger is not None:
        return run.deps.jaeger(run.topology.url("jaeger"))
    from chaosctl.observe.jaeger import Jaeger

    return Jaeger(run.topology.url("jaeger"))


def verdict(st: "RunState", checks: tuple[Check, ...]) -> str:
    if st.revert_failed or st.error is not None:
        return "error"
    if st.aborted or st.interrupted is not None:
        return "aborted"  # an interrupted run is partial: it never passes
    if any(not c.passed for c in checks):
        return "fail"
    return "pass"


def run_failure(st: "RunState", journal: "Journal", report: RunReport) -> ChaosctlError | None:
    """The error the CLI exits with once the reports are written (None: exit by verdict)."""
    left = journal.pending()
    undone = (f"could not revert {', '.join(r.label for r in left)}: run `chaosctl recover`" if left
              else "every fault was reverted")
    if report.interrupted:
        return Interrupted(f"interrupted by {st.interrupted}; {undone}; partial report written")
    if st.error is not None:
        if isinstance(st.error, StackUnavailable):
            return StackUnavailable(f"{st.error} ({undone}; report written with what was gathered)")
        return RunFailed(f"the run failed unexpectedly: {describe_error(st.error)} ({undone}; "
                         "report written with verdict error)")
    if st.revert_failed:
        return RunFailed(f"a revert failed ({undone}); verdict error")
    if st.lost:
        return StackUnavailable(st.lost.message())
    return None


def describe_error(exc: BaseException) -> str:
    """One line: the exception and where it was raised (the innermost frame of chaosctl)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "chaosctl" in f.filename] or \
        traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    text = str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {text}{where}" if not isinstance(exc, ChaosctlError) else f"{text}{where}"
