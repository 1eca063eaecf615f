"""`python -m chaosctl` and the `chaosctl` command: `validate` and `bottlenecks --file` by a short path, all else by cli.py.

Why a second path: importing typer (and the pydantic TypeAdapters it builds for each parameter)
costs about as much CPU as the whole check of a scenario (benchmarks/validate_startup.py), and
`chaosctl validate` runs in editors and pre-commit hooks. So a plain `validate FILE... [--system
PATH] [--port-base N]` is parsed here and runs the same function as the typer command, with the
same output and exit codes (tests/unit/test_fast_validate.py runs both paths and compares). Any
other argument list (help, an unknown or odd option, a shell-completion request) goes to cli.py,
which stays the one definition of the command line. Errors are said and mapped to exit codes by
cli.py (imported only then), the one place that decides exit codes.
"""

from __future__ import annotations

import gc
import os
import re
import sys
import types
from pathlib import Path
from typing import Any, Callable, NamedTuple, NoReturn, Optional

# A port base the typer path would read the same way (an int option): digits, no sign, no leading zero.
_PORT = r"[1-9][0-9]{0,5}"  # compiled on first use (re's cache): most calls give no --port-base
_VALUE_OPTIONS = ("--system", "--port-base")


class ValidateArgs(NamedTuple):
    files: list[Path]
    system: Optional[Path]
    port_base: Optional[int]


def parse_validate(argv: list[str]) -> Optional[ValidateArgs]:
    """The arguments of a plain `validate` command line, or None: then cli.py (typer) handles it."""
    if not argv or argv[0] != "validate":
        return None
    values: dict[str, str] = {}
    files: list[str] = []
    rest = iter(argv[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name in _VALUE_OPTIONS and name not in values:
            value = value if eq else next(rest, "")
            if not value or value.startswith("-"):
                return None  # a missing value: typer's own message
            values[name] = value
        elif arg and not arg.startswith("-"):
            files.append(arg)
        else:
            return None  # --help, --, an unknown or repeated option, an empty argument: typer decides
    port = values.get("--port-base")
    if not files or (port is not None and not re.fullmatch(_PORT, port)):
        return None
    system = values.get("--system")
    return ValidateArgs([Path(f) for f in files], None if system is None else Path(system), None if port is None else int(port))


def _without_pydantic_plugins() -> None:
    """Validation here needs no pydantic plugin; finding them imports importlib.metadata (email,
    zipfile, ...) and reads every installed package's entry points: about a tenth of the command's
    CPU. pydantic imports its plugin loader only when it builds a validator; this loader finds none."""
    if "pydantic.plugin._loader" not in sys.modules:
        loader = types.ModuleType("pydantic.plugin._loader", "chaosctl validate: no pydantic plugins")
        loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
        sys.modules["pydantic.plugin._loader"] = loader


def run_validate(args: ValidateArgs) -> None:
    """What cli.py's `validate` command does, in the same order."""
    from chaosctl.scenario.fault_base import lazy_fault_schemas
    from chaosctl.settings import load_settings
    from chaosctl.setup.shipped import resolve_scenario
    from chaosctl.system.validate import validate_files

    lazy_fault_schemas()  # this process only validates: each fault kind's validator is built on first use
    files = [resolve_scenario(f) for f in args.files]  # a shipped scenario's name works as a file
    validate_files(files, args.system, load_settings(port_base=args.port_base, create_secrets=False).port_base)


def _completing() -> bool:
    return any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)


def bottlenecks_options(argv: list[str]) -> object | None:
    """A plain `bottlenecks --file F [...]` (report.bottlenecks.options_from_argv) by the short path
    too: typer and its option machinery cost ~0.15 s CPU, a fifth of the command on 120,000 spans
    (benchmarks/critical_path.py). Anything else (--jaeger, help, odd arguments) goes to cli.py."""
    if argv[:1] != ["bottlenecks"]:
        return None
    from chaosctl.report.bottlenecks import options_from_argv

    return options_from_argv(argv)


def _run_bottlenecks(opts: object) -> None:
    from chaosctl.report.bottlenecks import run_bottlenecks

    run_bottlenecks(opts)  # type: ignore[arg-type]


def main() -> None:
    argv = [] if _completing() else sys.argv[1:]
    args = parse_validate(argv)
    if args is not None:
        _without_pydantic_plugins()
        # No cyclic GC in this short process: its imports and model builds create ~10^5 objects, and
        # collecting them as they grow cost ~3 % of validate's instructions (callgrind); the garbage of
        # checking a file is small and the process ends when the files are checked.
        gc.disable()
        _short_path(run_validate, args, teardown=False)
    opts = bottlenecks_options(argv)
    if opts is not None:
        _short_path(_run_bottlenecks, opts)
    from chaosctl.cli import main as cli_main

    cli_main()


def _short_path(run: Callable[[Any], None], args: object, teardown: bool = True) -> NoReturn:
    try:
        run(args)
        if not teardown:  # os._exit below flushes nothing: a broken pipe is met here, as typer meets it
            sys.stdout.flush()
            sys.stderr.flush()
    except KeyboardInterrupt:
        sys.exit(130)  # what typer does with an interrupt: quietly 130
    except BrokenPipeError:  # what typer does when the reader went away (`| head`): quietly 1
        from typer._click.utils import PacifyFlushWrapper

        sys.stdout, sys.stderr = PacifyFlushWrapper(sys.stdout), PacifyFlushWrapper(sys.stderr)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - cli.py says it and picks the exit code, as on the typer path
        from chaosctl.cli import exit_with_error

        try:
            exit_with_error(exc)
        except SystemExit as said:
            _leave(said.code, teardown)
    _leave(0, teardown)


def _leave(code: Any, teardown: bool) -> NoReturn:
    if not teardown:
        # validate is done (its output said, its exit code picked by cli.py): leave without the
        # interpreter's teardown (freeing every module and object, a last GC pass over pydantic's
        # ~10^5): 37 M of its 770 M instructions (callgrind), more after an error (typer is loaded).
        # Its path registers no atexit work and starts no thread (test_fast_validate checks both).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
