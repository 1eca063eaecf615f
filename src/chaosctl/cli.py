"""The chaosctl command line. Thin on purpose: parse arguments, build one
Settings, call one function, and map the error tree to exit codes (here, once).

Heavy libraries (locust, docker, OTLP exporters, FastAPI) are imported inside
the commands that need them, so `--help` and `validate` start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer

from chaosctl.errors import (ChaosctlError, FaultError, InputInvalid, Interrupted, RunFailed, RunLocked, StackUnavailable,
                             VerdictFailed)
from chaosctl.settings import Settings, load_settings

# The one table from an outcome to an exit code (docs/architecture.md, "Exit"). An error maps by its
# nearest class here; a run's verdict by its name. Nothing else in chaosctl decides an exit code.
EXIT_CODES: dict[type[BaseException], int] = {
    InputInvalid: 2,  # a scenario, System, argument, setting or state file is wrong; nothing was executed
    StackUnavailable: 3,  # the stack or an observability backend cannot be reached or started
    RunFailed: 4,  # the run itself failed, or a revert did (never 1: CI reads 1 as "an SLO failed")
    RunLocked: 5,  # another run holds the run lock; nothing was done
    Interrupted: 130,  # SIGINT/SIGTERM, after every fault was reverted
    FaultError: 1,
    VerdictFailed: 1,
    ChaosctlError: 1,
}
VERDICT_EXIT_CODES = {"pass": 0, "fail": 1, "aborted": 1, "error": 4}  # "error" normally arrives raised (RunFailed)
INTERNAL_ERROR_EXIT = EXIT_CODES[RunFailed]  # a bug, not a verdict


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error: its nearest class in EXIT_CODES (an unknown error is a bug: 4)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_CODES[Interrupted]
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return INTERNAL_ERROR_EXIT

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Chaos, observability and SLO testing for distributed AI serving stacks.",
)

StateDir = typer.Option(None, "--state-dir", help="State folder (env CHAOSCTL_STATE_DIR).")
PortBase = typer.Option(None, "--port-base", help="First port of the stack (env CHAOSCTL_PORT_BASE).")
BackendOpt = typer.Option(None, "--backend", help="local (default) or docker (env CHAOSCTL_BACKEND).")
HistoryOpt = typer.Option(None, "--history", help="Run-history file (env CHAOSCTL_HISTORY; default STATE_DIR/history.sqlite3).")


def _version(value: bool) -> None:
    if value:
        from chaosctl.setup.versions import version_lines

        typer.echo("\n".join(version_lines(load_settings(create_secrets=False))))
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                 help="Print chaosctl's version and the external components found, then exit."),
) -> None:
    """Chaos, observability and SLO testing for distributed AI serving stacks."""


ToolsDir = typer.Option(None, "--tools-dir", help="Where the Go-built components go (env CHAOSCTL_TOOLS_DIR; default ~/.local/share/chaosctl/tools).")


@app.command("setup")
def setup_cmd(
    dev: bool = typer.Option(False, "--dev", help="Also the test-only tools (Chromium, actionlint); `make setup` passes it."),
    tools_dir: Optional[Path] = ToolsDir,
) -> None:
    """Install the external components (etcd, Prometheus, Toxiproxy, Jaeger); quick when they are there."""
    from chaosctl.setup.install import run_setup

    run_setup(load_settings(tools_dir=tools_dir, create_secrets=False), dev=dev, say=lambda line: typer.echo(f"[setup] {line}"))


@app.command("scenarios")
def scenarios_cmd() -> None:
    """List the shipped scenarios (`chaosctl run NAME` runs one): name, description, path in the package."""
    from chaosctl.setup.shipped import shipped_scenarios

    for s in shipped_scenarios():
        typer.echo(f"{s.name:<22} {s.description}\n{'':<22} {s.package_path}")


@app.command("init")
def init_cmd(
    folder: Path = typer.Argument(Path("."), help="Where to write scenario.yaml and system.yaml."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Write a starter scenario (scenario.yaml) and System (system.yaml) into a folder."""
    from chaosctl.setup.shipped import init_files

    for path in init_files(folder, force=force):
        typer.echo(f"wrote {path}")


def _settings(state_dir: Optional[Path], port_base: Optional[int], backend: Optional[str] = None,
              grafana_url: Optional[str] = None) -> Settings:
    return load_settings(state_dir=state_dir, port_base=port_base, backend=backend, grafana_url=grafana_url)


@app.command()
def up(state_dir: Optional[Path] = StateDir, port_base: Optional[int] = PortBase, backend: Optional[str] = BackendOpt) -> None:
    """Start the reference stack and its observability backends; wait until all are ready."""
    from chaosctl.stack import up as stack_up

    stack_up(_settings(state_dir, port_base, backend))


@app.command()
def down(state_dir: Optional[Path] = StateDir, port_base: Optional[int] = PortBase, backend: Optional[str] = BackendOpt) -> None:
    """Stop every process the stack started (by pid) and free its ports."""
    from chaosctl.stack import down as stack_down

    stack_down(_settings(state_dir, port_base, backend))


@app.command()
def status(
    json_out: bool = typer.Option(False, "--json", help="Machine-readable status (shape in docs/architecture.md)."),
    state_dir: Optional[Path] = StateDir,
    port_base: Optional[int] = PortBase,
    backend: Optional[str] = BackendOpt,
) -> None:
    """Show each component's state, pid and URL. Exits 3 when the stack is not up."""
    from chaosctl.stack import show_status

    show_status(_settings(state_dir, port_base, backend), json_out=json_out)


@app.command()
def doctor(state_dir: Optional[Path] = StateDir, port_base: Optional[int] = PortBase) -> None:
    """Say which external components are found (path, version) and how to get the missing ones."""
    from chaosctl.stack.doctor import run_doctor

    run_doctor(_settings(state_dir, port_base))


@app.command()
def validate(
    files: list[Path] = typer.Argument(..., help="Scenario or System files to check (by their `kind`)."),
    system: Optional[Path] = typer.Option(None, "--system", help="Check scenarios against this System file (default: theirs, else the reference stack)."),
    port_base: Optional[int] = PortBase,
) -> None:
    """Check scenario and System files without a running stack; errors as FILE:LINE:COL: message."""
    from chaosctl.setup.shipped import resolve_scenario
    from chaosctl.system.validate import validate_files

    files = [resolve_scenario(f) for f in files]  # a shipped scenario's name works as a file
    validate_files(files, system, load_settings(port_base=port_base, create_secrets=False).port_base)


@app.command()
def schema(kind: str = typer.Option("scenario", "--kind", help="scenario (default) or system.")) -> None:
    """Print the JSON Schema of the scenario (or System) format, for editors."""
    if kind == "system":
        import json

        from chaosctl.system.schema import json_schema

        typer.echo(json.dumps(json_schema(), indent=2))
        return
    if kind != "scenario":
        from chaosctl.errors import UsageError

        raise UsageError(f"--kind {kind!r}: expected scenario or system")
    from chaosctl.scenario.schema import print_schema

    print_schema()


@app.command()
def discover(
    prometheus: str = typer.Option(..., "--prometheus", help="Prometheus URL, e.g. http://127.0.0.1:9090."),
    jaeger: Optional[str] = typer.Option(None, "--jaeger", help="Jaeger query URL, e.g. http://127.0.0.1:16686."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds per request."),
    toxiproxy: Optional[list[str]] = typer.Option(None, "--toxiproxy", help="A Toxiproxy API URL whose proxies become links (repeatable)."),
) -> None:
    """Print a draft System file (stdout) from Prometheus targets and metrics and Jaeger services."""
    from chaosctl.system.discover import discover as draft_system

    typer.echo(draft_system(prometheus, jaeger, timeout=timeout, toxiproxy=toxiproxy), nl=False)


@app.command()
def run(
    file: Path = typer.Argument(..., help="Scenario file, or a shipped scenario's name (`chaosctl scenarios`)."),
    system: Optional[Path] = typer.Option(None, "--system", help="The System to run on (default: the scenario's, else the reference stack)."),
    report_dir: Optional[Path] = typer.Option(None, "--report-dir", help="Where report.json, junit.xml, report.html/md go."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the timeline; touch nothing."),
    state_dir: Optional[Path] = StateDir,
    port_base: Optional[int] = PortBase,
    backend: Optional[str] = BackendOpt,
    grafana_url: Optional[str] = typer.Option(
        None, "--grafana-url", help="Post phase/fault annotations to this Grafana (env CHAOSCTL_GRAFANA_URL; token: CHAOSCTL_GRAFANA_TOKEN)."
    ),
    history: Optional[Path] = HistoryOpt,
    require_baseline: bool = typer.Option(
        False, "--require-baseline", help="A last_pass objective with no earlier passing run FAILs (env CHAOSCTL_REQUIRE_BASELINE)."
    ),
    min_coverage: Optional[str] = typer.Option(
        None, "--min-coverage", help="Least share of a phase its SLOs' data must cover, e.g. 90% (env CHAOSCTL_COVERAGE_THRESHOLD)."
    ),
    confirm: Optional[str] = typer.Option(None, "--confirm", help="The System's name: needed when it reaches beyond this machine."),
    rehearse: bool = typer.Option(
        False, "--rehearse", help="No fault: load, probes and every SLI, abort and trace query per phase; FAIL naming a query without data."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No live view (by default: a live display on a terminal, a timestamped line every 5s otherwise or under CI)."
    ),
) -> None:
    """Run a scenario: baseline -> faults -> recovery under load, then the verdict and reports."""
    from chaosctl.runner.entry import run_scenario
    from chaosctl.setup.shipped import resolve_scenario

    file = resolve_scenario(file)
    settings = load_settings(state_dir=state_dir, port_base=port_base, backend=backend, grafana_url=grafana_url,
                             history=history, require_baseline=require_baseline or None,
                             create_secrets=not dry_run)  # a dry run touches nothing, not even the secrets file
    settings = _with_min_coverage(settings, min_coverage)
    verdict = run_scenario(file, settings, report_dir=report_dir, dry_run=dry_run, system=system, confirm=confirm,
                           rehearse=rehearse, quiet=quiet)  # the scenario is checked against its System before anything starts
    raise typer.Exit(0 if verdict is None else VERDICT_EXIT_CODES[verdict])  # None: a dry run judged nothing


def _with_min_coverage(settings: Settings, min_coverage: Optional[str]) -> Settings:
    if min_coverage is None:
        return settings
    from dataclasses import replace

    from chaosctl.settings import parse_coverage

    return replace(settings, coverage_threshold=parse_coverage(min_coverage, "--min-coverage"))


@app.command("gpu-hog")
def gpu_hog(
    device: int = typer.Option(0, "--device", help="CUDA device index."),
    nbytes: Optional[int] = typer.Option(None, "--bytes", help="Bytes to hold."),
    fraction: Optional[float] = typer.Option(None, "--fraction", help="Share of the free device memory to hold (0-1)."),
) -> None:
    """Hold GPU memory until stopped (what a gpu-exhaustion fault on a gpu-host runs); exit 3 without a device."""
    from chaosctl.errors import UsageError
    from chaosctl.faults.gpuhog import hold

    if (nbytes is None) == (fraction is None) or (fraction is not None and not 0 < fraction <= 1):
        raise UsageError("gpu-hog needs exactly one of --bytes N or --fraction F (0 < F <= 1)")
    hold(device, nbytes, fraction)  # returns once stopped by a signal; no device raises StackUnavailable


@app.command()
def recover(state_dir: Optional[Path] = StateDir, port_base: Optional[int] = PortBase, backend: Optional[str] = BackendOpt) -> None:
    """Revert every fault that the journal says is still in place (after a crash or SIGKILL)."""
    from chaosctl.runner.entry import recover as do_recover

    do_recover(_settings(state_dir, port_base, backend))  # a revert that failed raises RunFailed


@app.command()
def token(
    subject: str = typer.Option("chaosctl", "--subject", help="The JWT subject (the rate-limited client)."),
    ttl: str = typer.Option("1h", "--ttl", help="Lifetime, e.g. 30m, 1h."),
    secret: Optional[str] = typer.Option(
        None, "--secret", help="Instead print this install secret: jwt-secret, admin-token, service-token, grafana-password."
    ),
    state_dir: Optional[Path] = StateDir,
) -> None:
    """Print a JWT that the gateway accepts (or, with --secret, one of the install's secrets)."""
    from chaosctl.scenario.units import parse_flag_duration
    from chaosctl.services.gateway.auth import mint_token

    ttl_s = parse_flag_duration(ttl, "--ttl")  # > 0 and at most a year, checked before anything is read
    settings = load_settings(state_dir=state_dir)
    if secret is not None:
        from chaosctl.credentials import secret_by_option

        typer.echo(secret_by_option(settings, secret))
        return
    typer.echo(mint_token(settings.jwt_secret, subject=subject, ttl_s=ttl_s))


@app.command()
def report(report_dir: Path = typer.Argument(..., help="A folder holding report.json.")) -> None:
    """Re-render the reports (terminal, junit, html, md) from a report.json."""
    from chaosctl.report import rerender

    rerender(report_dir)


@app.command("history")
def history_cmd(
    scenario: Optional[str] = typer.Option(None, "--scenario", help="Only runs of this scenario (its metadata.name)."),
    verdict: Optional[str] = typer.Option(None, "--verdict", help="Only runs with this verdict: pass, fail, aborted, error."),
    limit: int = typer.Option(20, "--limit", help="At most this many runs, newest first."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    history: Optional[Path] = HistoryOpt,
    state_dir: Optional[Path] = StateDir,
) -> None:
    """List recorded runs (the run history), newest first."""
    from chaosctl.history.show import show_history

    show_history(load_settings(state_dir=state_dir, history=history).history_path, scenario, verdict, limit, json_out)


@app.command("compare")
def compare_cmd(
    a: str = typer.Argument(..., help="A run id from `chaosctl history` (or a unique prefix), or a report folder."),
    b: str = typer.Argument(..., help="The run to compare with A (same forms)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    history: Optional[Path] = HistoryOpt,
    state_dir: Optional[Path] = StateDir,
) -> None:
    """What changed from run A to run B: per-check observed deltas and status, per-operation critical-path shares."""
    from chaosctl.history.show import show_compare

    show_compare(load_settings(state_dir=state_dir, history=history).history_path, a, b, json_out)


@app.command()
def bottlenecks(
    jaeger: Optional[str] = typer.Option(None, "--jaeger", help="Jaeger query URL, e.g. http://127.0.0.1:16686."),
    service: Optional[str] = typer.Option(None, "--service", help="The service whose traces to read (with --jaeger)."),
    since: Optional[str] = typer.Option(None, "--since", help="Window ending now, e.g. 15m (default 15m)."),
    window: Optional[str] = typer.Option(None, "--window", help="START..END (ISO 8601 or unix seconds)."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="A second window START..END to diff against."),
    file: Optional[Path] = typer.Option(None, "--file", help="Offline OTLP JSON traces (as /api/v3/traces returns)."),
    baseline_file: Optional[Path] = typer.Option(None, "--baseline-file", help="Offline baseline traces to diff against."),
    root_operation: Optional[str] = typer.Option(None, "--root-operation", help="Only traces whose root operation matches this glob."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    per_trace: bool = typer.Option(False, "--per-trace", help="Also give each trace's critical path."),
    top: int = typer.Option(15, "--top", help="Rows in the table."),
    max_file_mb: int = typer.Option(256, "--max-file-mb", min=1, max=65536, help="Refuse trace files larger than this (MiB)."),
) -> None:
    """Where the time goes: critical paths and bottlenecks of any system's traces (Jaeger or a file)."""
    from chaosctl.report.bottlenecks import BottleneckOptions, run_bottlenecks

    run_bottlenecks(BottleneckOptions(jaeger, service, since, window, baseline, file, baseline_file, root_operation, json_out, per_trace, top,
                                      max_file_bytes=max_file_mb * 2**20))


@app.command()
def dashboards(
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the JSON files (default: the checkout's dashboards/, else ./dashboards)."),
    preview_from: Optional[str] = typer.Option(
        None, "--preview-from", help="Instead: draw each dashboard from this Prometheus URL into --out as HTML (no Grafana)."
    ),
    minutes: float = typer.Option(15.0, "--minutes", help="Preview window, ending now."),
) -> None:
    """Generate the Grafana dashboards (JSON) from code, or preview them from a live Prometheus."""
    if preview_from:
        from chaosctl.dashboards.preview import write_previews

        paths = write_previews(out or Path("reports/dashboards"), preview_from, minutes * 60)
    else:
        from chaosctl.dashboards import default_out_dir, write_dashboards

        paths = write_dashboards(out or default_out_dir())
    for path in paths:
        typer.echo(str(path))


def main() -> None:
    try:
        app(standalone_mode=True)
    except (Exception, KeyboardInterrupt) as exc:
        exit_with_error(exc)


def exit_with_error(exc: BaseException) -> NoReturn:
    """Say an error the one way (`chaosctl: ...` on stderr) and exit with its code (also for __main__'s validate path)."""
    if isinstance(exc, ChaosctlError):
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"chaosctl: {line}", file=sys.stderr)
    elif isinstance(exc, KeyboardInterrupt):
        print("chaosctl: interrupted", file=sys.stderr)
    else:  # a bug, not a verdict: exit 4 (RunFailed's code) so that CI never reads it as "SLO failed"
        import traceback

        traceback.print_exception(exc)
        print(f"chaosctl: internal error (the traceback above); exit {INTERNAL_ERROR_EXIT}", file=sys.stderr)
    sys.exit(exit_code_for(exc))


if __name__ == "__main__":
    main()
