"""`chaosctl run` and `chaosctl recover`: the entry points of the run engine.

The run loop itself lives in chaosctl.runner (engine, phase, active faults,
signals, abort, telemetry); this module validates, dispatches and turns the
verdict into an exit code (0 pass, 1 fail/aborted/error; errors raised as
chaosctl.errors map to 2/3/130 in cli.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from chaosctl.settings import Settings
from chaosctl.stack.topology import Topology


def run_scenario(path: Path, settings: Settings, report_dir: Path | None = None, dry_run: bool = False) -> int:
    import signal

    from chaosctl.scenario import load_scenario

    # Until the run installs its own guard, SIGTERM behaves like Ctrl-C (exit 130, not -15).
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    scenario = load_scenario(path, Topology(settings.port_base))  # ScenarioInvalid -> exit 2
    if dry_run:
        from chaosctl.scenario.timeline import build_timeline, render_timeline

        render_timeline(build_timeline(scenario))
        return 0

    from chaosctl.report import write_reports
    from chaosctl.report.console import render

    from .runner.engine import Run

    report = Run(scenario, settings, echo=_echo).execute()
    render(report)
    out = report_dir or Path("reports") / scenario.name
    written = write_reports(report, out)
    _echo(f"reports: {', '.join(str(p) for p in written.values())}")
    return 0 if report.verdict == "pass" else 1


def recover(settings: Settings) -> int:
    from .runner.recover import recover_faults

    return recover_faults(settings, echo=_echo)


def _echo(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
