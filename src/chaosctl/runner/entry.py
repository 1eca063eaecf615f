"""`chaosctl run` and `chaosctl recover`: the entry points of the run engine.

The run loop itself lives in chaosctl.runner (engine, phase, active faults,
signals, abort, telemetry); this module validates, takes the run lock,
dispatches and writes every report (whatever the run's end: verdict, interrupt,
error, a backend lost). It returns the run's verdict or raises (Interrupted,
RunFailed, StackUnavailable after the reports are written; RunLocked, invalid
input before anything is touched); cli.py alone turns either into an exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from chaosctl.errors import RunFailed
from chaosctl.settings import Settings

if TYPE_CHECKING:
    from chaosctl.faults.base import FaultContext
    from chaosctl.report.model import Verdict
    from chaosctl.runner.engine import Run, RunDeps
    from chaosctl.runner.signals import SignalGuard
    from chaosctl.scenario.model import Scenario
    from chaosctl.system.model import System


def run_scenario(path: Path, settings: Settings, report_dir: Path | None = None, dry_run: bool = False,
                 system: Path | None = None, confirm: str | None = None, rehearse: bool = False, quiet: bool = False) -> Verdict | None:
    """`system`: --system (default: the scenario's, else the reference stack); `confirm`: the
    System's name when it reaches beyond this machine; `rehearse`: runner.rehearse. Returns
    the verdict (None for a dry run: nothing was judged) or raises."""
    import signal

    from chaosctl.system.fit import resolve_for_run

    # Until the run installs its own guard, SIGTERM behaves like Ctrl-C (exit 130, not -15).
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    # ScenarioInvalid / SystemInvalid / UsageError (no --confirm) -> exit 2, nothing touched
    scenario, resolved, system_path = resolve_for_run(path, system, settings.port_base, confirm)
    scenario, deps = _rehearsal(scenario) if rehearse else (scenario, None)
    if dry_run:
        from chaosctl.scenario.timeline import build_timeline, render_timeline

        render_timeline(build_timeline(scenario))
        return None

    from .engine import Run
    from .lock import RunLock
    from .signals import SignalGuard

    out = report_dir or Path("reports") / scenario.name
    ctx = _fault_context(settings, resolved, system_path)
    try:
        with RunLock(settings.state_dir), SignalGuard() as guard:  # RunLocked -> exit 5, nothing touched
            run = Run(scenario, settings, echo=_echo, fault_ctx=ctx, deps=deps, live=_live_mode(quiet))
            return execute_and_publish(run, out, guard, source=path)
    finally:
        # The process exits next (cli.run), reports written: the collector's last pass at exit over
        # every object the run made took 0.4-1.2 s at load ~9 (0.1 s frozen; benchmarks/run_overhead.py).
        import gc

        gc.freeze()


def _rehearsal(scenario: "Scenario") -> tuple["Scenario", "RunDeps"]:
    """The scenario as rehearsed (runner.rehearse) and the run's dependencies for it."""
    from .rehearse import rehearsal_deps, rehearsal_scenario

    return rehearsal_scenario(scenario), rehearsal_deps()


def _fault_context(settings: Settings, resolved: "System", system_path: Path | None) -> "FaultContext":
    """The run's reach into the System; a System without a `load` section cannot be run (exit 2)."""
    from chaosctl.faults.base import FaultContext

    if resolved.load is None:
        from chaosctl.errors import UsageError

        raise UsageError(f"System {resolved.name!r} has no `load` section: a run sends its load to `load.base_url`")
    return FaultContext.for_settings(settings, resolved, system_path)


def _live_mode(quiet: bool) -> str:
    """runner.live: a display on a terminal, plain lines in a pipe or under CI, none with --quiet."""
    import os
    import sys

    from .live import live_mode

    return live_mode(quiet, sys.stdout.isatty(), os.environ)


def execute_and_publish(run: "Run", out: Path, guard: "SignalGuard", source: Path | None = None) -> Verdict:
    """Run, write every report (shielded: a signal now waits for the files), then the verdict,
    or raise what the run ended with (reports are on disk by then)."""
    from chaosctl.history import judge_last_pass, record_after_run
    from chaosctl.report import write_reports_safely
    from chaosctl.report.console import render

    report = run.execute(guard)
    system = run.system.name  # history is per (scenario, System): a pass on another System is no baseline
    report = judge_last_pass(report, run.scenario, run.settings, _echo, system)  # `<= last_pass + 10%` objectives (history)
    with guard.shield():
        try:
            render(report)
        except Exception as exc:  # noqa: BLE001 - the files matter more than the terminal
            _echo(f"could not print the report: {exc}")
        written, failed = write_reports_safely(report, out)
        if written:
            _echo(f"reports: {', '.join(str(p) for p in written.values())}")
        for problem in failed:  # said here too: an error raised below would not name them
            _echo(f"could not write a report: {problem}")
        record_after_run(run.settings, report, source, out, _echo, system)  # run history; a failure only warns
    failure = run.failure(report)
    if failure is None and guard.received is not None:  # a signal while the reports were written
        from chaosctl.errors import Interrupted

        failure = Interrupted(f"interrupted by {guard.signal_name} after the run; the reports are complete")
    if failure is not None:
        raise failure
    if failed:
        raise RunFailed("could not write every report: " + "; ".join(failed))
    return report.verdict


def recover(settings: Settings) -> int:
    """Revert what the journal holds; returns how many faults were reverted, raises RunFailed when
    one could not be (it stays in the journal) and Interrupted on a signal."""
    from .lock import RunLock
    from .recover import recover_faults

    with RunLock(settings.state_dir, what="recover"):  # a live run reverts its own faults
        return recover_faults(settings, echo=_echo)


def _echo(line: str) -> None:
    from chaosctl.console import plain

    # Lines carry fault labels and error text from the stack: no control character reaches the terminal.
    print(plain(line, multiline=True), file=sys.stdout, flush=True)
