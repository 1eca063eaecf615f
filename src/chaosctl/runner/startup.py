"""What a run does in the background to shorten its overhead (benchmarks/run_overhead.py):

- `accepts_connection`: whether the load's target takes a TCP connection, so the gated Locust can
  start before the pre-flight (its interpreter start is most of the load start). A stack that is
  down starts no Locust beside the failing pre-flight (test_run_with_the_stack_down timed out at
  load ~70 with three Locusts importing beside it); the Locust then starts after the pre-flight.
- `warm_imports`: what only the analysis and the reports import, imported in a daemon thread while
  the phases run (the process mostly waits then), so that it is not on the way to the verdict.
- `Background`: work beside the main thread's: the run's Prometheus client and telemetry are made
  during the pre-flight, and the telemetry is closed (its marker server's shutdown polls every
  0.5 s) during the analysis; each joined before its result is needed, its error raised there.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Callable
from urllib.parse import urlsplit

CONNECT_TIMEOUT_S = 0.3
AFTER_RUN_MODULES = (  # imported lazily by runner.analysis/effects/outcome, report and history
    "chaosctl.runner.analysis", "chaosctl.runner.effects", "chaosctl.verdict.slo", "chaosctl.verdict.coverage",
    "chaosctl.observe.jaeger", "chaosctl.observe.span_table", "chaosctl.verdict.table_analysis",
    "chaosctl.verdict.bottleneck", "chaosctl.verdict.traces", "chaosctl.history", "chaosctl.report",
    "chaosctl.report.console", "chaosctl.report.html", "chaosctl.report.junit", "chaosctl.report.md",
    "chaosctl.report.charts", "chaosctl.report.json",
)


def accepts_connection(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
    """True when something listens at the URL's host and port (nothing is sent)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def warm_imports(modules: tuple[str, ...] = AFTER_RUN_MODULES) -> threading.Thread:
    """Import `modules` in a daemon thread (a failure is left for the real import to raise)."""
    import importlib

    def work() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the code that needs it imports it again and says why
                continue

    thread = threading.Thread(target=work, name="warm-imports", daemon=True)
    thread.start()
    return thread


class Background:
    """`work` in a thread from now; `join()` waits for it and returns what it returned or raises
    what it raised."""

    def __init__(self, work: Callable[[], Any], name: str) -> None:
        self._error: BaseException | None = None
        self._result: Any = None
        self._work = work
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._work()
        except BaseException as exc:  # noqa: BLE001 - handed to join()
            self._error = exc

    def join(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result
