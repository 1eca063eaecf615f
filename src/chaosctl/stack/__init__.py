"""The stack commands behind `chaosctl up`, `down` and `status`.

The backend does the work; this module only shows it (rich) and times it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from chaosctl.errors import StackUnavailable
from chaosctl.settings import Settings

# rich, the progress display and the backends load only for up/down/status, not with stack.topology
# (which `validate` imports: the backends and their threading were ~5 % of its instructions).
if TYPE_CHECKING:
    from rich.console import Console

    from chaosctl.stack.backend import StackStatus
    from chaosctl.stack.display import ProgressReporter


def _backend(settings: Settings, reporter: ProgressReporter | None = None):  # noqa: ANN202
    from chaosctl.stack.factory import get_backend

    return get_backend(settings, reporter=reporter)


@contextlib.contextmanager
def _term_as_interrupt() -> Iterator[None]:
    """SIGTERM during `up` unwinds like Ctrl-C, so that what was started gets stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def up(settings: Settings) -> StackStatus:
    """Start the stack (idempotent) and wait until every component is ready."""
    from chaosctl.console import default_console
    from chaosctl.stack.display import ProgressReporter

    console = default_console(stderr=True)
    began = time.monotonic()
    with _term_as_interrupt(), ProgressReporter(console, title="chaosctl up") as reporter:
        status = _backend(settings, reporter).up()
        already = reporter.all_already_running
    _require_ready(status)  # one that exited after it answered: not "stack ready", and exit 3
    elapsed = time.monotonic() - began
    if already:
        console.print(f"[green]stack already up[/] ({len(status.components)} components ready); nothing to do")
    else:
        console.print(f"[green]stack ready[/] in {elapsed:.1f} s (port base {settings.port_base})")
    _print_endpoints(console, status)
    _print_secrets_location(console, settings)
    return status


def _print_secrets_location(console: Console, settings: Settings) -> None:
    """Where the install's secrets are (never the values: `chaosctl token --secret NAME` prints one)."""
    from chaosctl.credentials import secrets_path

    path = secrets_path(settings.state_dir)
    if path.is_file():
        console.print(f"  {'secrets':<11} {path} (mode 0600; print one with `chaosctl token --secret NAME`)")


def down(settings: Settings) -> None:
    """Stop every process of the stack (by pid) and check that no port listens."""
    from chaosctl.console import default_console
    from chaosctl.stack.display import ProgressReporter

    console = default_console(stderr=True)
    began = time.monotonic()
    with ProgressReporter(console, title="chaosctl down") as reporter:
        _backend(settings, reporter).down()
        stopped = reporter.count("stopped")
    elapsed = time.monotonic() - began
    if stopped:
        console.print(f"[green]stack stopped[/] ({stopped} processes) in {elapsed:.1f} s; no port listens")
    else:
        console.print("nothing was running; no port of the stack listens")


def show_status(settings: Settings, json_out: bool = False) -> StackStatus:
    """Print the status (docs/architecture.md shape with --json); StackUnavailable unless all ready."""
    status = _backend(settings).status()
    if json_out:
        print(json.dumps(status.to_json(), indent=2))
    else:
        from chaosctl.console import default_console

        _print_table(default_console(), status)
    if not status.any_running:
        raise StackUnavailable(
            f"stack not up: nothing runs from {settings.state_dir} on port base {settings.port_base}; "
            "start it with `chaosctl up`"
        )
    _require_ready(status)
    return status


def _require_ready(status: StackStatus) -> None:
    if not status.all_ready:
        from chaosctl.stack.backend import READY

        bad = [f"{c.name} ({c.state})" for c in status.components if c.state != READY]
        raise StackUnavailable("stack not fully up: " + ", ".join(bad))


def _print_table(console: Console, status: StackStatus) -> None:
    from rich.table import Table

    table = Table(title=f"chaosctl stack ({status.backend})")
    for col in ("component", "state", "pid", "url"):
        table.add_column(col)
    colors = {"ready": "green", "starting": "yellow", "paused": "cyan", "stopped": "red"}
    for c in status.components:
        state = f"[{colors.get(c.state, 'white')}]{c.state}[/]"
        table.add_row(c.name, state, str(c.pid or "-"), c.url)
    console.print(table)


def _print_endpoints(console: Console, status: StackStatus) -> None:
    for name, url in status.endpoints.items():
        console.print(f"  {name:<11} {url}")
