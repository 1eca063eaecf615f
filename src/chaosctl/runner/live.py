"""A live view of the run: phase and time left, what the clients see (requests/s,
p50/p99, error ratio), the faults in place and the abort conditions' current values.

Three modes (`live_mode`): `rich` on a terminal (rich Live, imported only then,
refreshed about once a second), `plain` (one timestamped line every few seconds)
when stdout is not a terminal or `CI` is set, `off` with `--quiet`. rich itself
honours `NO_COLOR`; plain lines carry no colour at all.

The view never harms the run (the rule OpenTelemetry keeps for telemetry): it
reads in its own daemon thread, every error is swallowed, and after a few
failures in a row it stops drawing. Its sources are what the run already has:
Locust's stats history CSV (the clients' view, one `Aggregated` row per second:
current requests/s, failures/s and response-time percentiles), the fault
journal (faults injected and not yet reverted) and the abort conditions' PromQL.
"""

from __future__ import annotations

import csv
import io
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

Mode = Literal["rich", "plain", "off"]
REFRESH_S = 1.0
PLAIN_EVERY_S = 5.0
MAX_FAILURES = 5  # in a row: the view gives up, the run goes on
_TAIL_BYTES = 16384


def live_mode(quiet: bool, is_terminal: bool, env: Mapping[str, str]) -> Mode:
    if quiet:
        return "off"
    if env.get("CI") or not is_terminal:
        return "plain"
    return "rich"


@dataclass(frozen=True)
class ClientStats:
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    error_ratio: float | None  # failures/s over requests/s; None while no request completes


@dataclass(frozen=True)
class AbortValue:
    name: str
    value: float | None  # None: no data
    holds: bool  # the condition is true now (it trips once true for its `for`)


@dataclass(frozen=True)
class Snapshot:
    phase: str | None  # None before the first phase
    phase_left_s: float
    total_left_s: float
    client: ClientStats | None
    faults: tuple[str, ...]
    aborts: tuple[AbortValue, ...]


def _number(row: Mapping[str, str], key: str) -> float | None:
    try:
        value = float(row.get(key) or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def client_stats_from_csv(text: str, header: str | None = None) -> ClientStats | None:
    """The last complete `Aggregated` row of Locust's stats history (`header`: the file's
    first line when `text` is only its tail)."""
    lines = text.splitlines()
    if header is not None:
        lines = [header, *lines[1:]]  # the tail's first line may be cut
    rows = [r for r in csv.DictReader(io.StringIO("\n".join(lines))) if r.get("Name") == "Aggregated"]
    for row in reversed(rows):
        rps = _number(row, "Requests/s")
        if rps is None or None in row.values() or None in row:
            continue  # a row cut short mid-write (fields missing) or run together with the next
        fails = _number(row, "Failures/s") or 0.0
        ratio = min(1.0, fails / rps) if rps > 0 else None
        p50, p99 = _number(row, "50%"), _number(row, "99%")
        return ClientStats(rps, p50, p99, ratio)
    return None


def read_client_stats(path: Path) -> ClientStats | None:
    """Only the file's tail is read: it grows by a row per second for the whole run."""
    try:
        with open(path, "rb") as fh:
            header = fh.readline().decode("utf-8", "replace").rstrip("\r\n")
            size = fh.seek(0, io.SEEK_END)
            if size <= _TAIL_BYTES:
                fh.seek(0)
                return client_stats_from_csv(fh.read().decode("utf-8", "replace"))
            fh.seek(size - _TAIL_BYTES)
            return client_stats_from_csv(fh.read().decode("utf-8", "replace"), header)
    except OSError:
        return None


@dataclass
class LiveSources:
    """Where the view reads; each is called from the view's thread and may raise."""

    client: Callable[[], ClientStats | None] = lambda: None
    faults: Callable[[], Sequence[str]] = lambda: ()
    aborts: Callable[[], Sequence[AbortValue]] = lambda: ()


@dataclass
class LiveModel:
    """The view model: the engine tells it when a phase starts; it asks the sources the rest."""

    total_s: float
    sources: LiveSources = field(default_factory=LiveSources)
    clock: Callable[[], float] = time.monotonic
    _phase: str | None = None
    _phase_end: float = 0.0
    _run_end: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def phase_started(self, name: str, duration_s: float, remaining_total_s: float) -> None:
        now = self.clock()
        with self._lock:
            self._phase, self._phase_end, self._run_end = name, now + duration_s, now + remaining_total_s

    def snapshot(self) -> Snapshot:
        now = self.clock()
        with self._lock:
            phase, phase_end, run_end = self._phase, self._phase_end, self._run_end
        total_left = self.total_s if run_end is None else max(0.0, run_end - now)
        return Snapshot(phase, max(0.0, phase_end - now) if phase else 0.0, total_left,
                        self.sources.client(), tuple(self.sources.faults()), tuple(self.sources.aborts()))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _abort_text(a: AbortValue) -> str:
    value = "no data" if a.value is None else f"{a.value:.4g}"
    return f"{a.name}: {value}" + (" (TRUE)" if a.holds else "")


def plain_line(snap: Snapshot, wall: float) -> str:
    """One timestamped line (UTC) for logs and CI."""
    stamp = time.strftime("%H:%M:%SZ", time.gmtime(wall))
    where = f"phase {snap.phase}, {snap.phase_left_s:.0f}s left" if snap.phase else "before the phases"
    c = snap.client
    load = (f"{c.rps:.1f} req/s, p50 {_ms(c.p50_ms)}, p99 {_ms(c.p99_ms)}, errors {_ratio(c.error_ratio)}"
            if c else "no client data yet")
    faults = ", ".join(snap.faults) or "none"
    aborts = "; ".join(_abort_text(a) for a in snap.aborts) or "none"
    return f"[{stamp}] {where} (run {snap.total_left_s:.0f}s left) | {load} | faults: {faults} | abort: {aborts}"


def rich_table(snap: Snapshot) -> Any:
    """The terminal display: one table, names passed as Text (never parsed as markup)."""
    from rich.table import Table
    from rich.text import Text

    from chaosctl.console import plain

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    where = f"{plain(snap.phase)}: {snap.phase_left_s:.0f}s left" if snap.phase else "starting"
    table.add_row("phase", Text(f"{where} (run {snap.total_left_s:.0f}s left)"))
    c = snap.client
    table.add_row("clients", Text(f"{c.rps:.1f} req/s  p50 {_ms(c.p50_ms)}  p99 {_ms(c.p99_ms)}  "
                                  f"errors {_ratio(c.error_ratio)}" if c else "no data yet"))
    table.add_row("faults", Text("\n".join(plain(f) for f in snap.faults) or "none"))
    aborts = [Text(plain(_abort_text(a)), style="red" if a.holds else "") for a in snap.aborts]
    table.add_row("abort", Text("\n").join(aborts) if aborts else Text("none"))
    return table


class LiveView:
    """Draws `model` in its own thread until `stop()`; never raises into the run."""

    def __init__(self, model: LiveModel, mode: Mode, write: Callable[[str], None] | None = None,
                 refresh_s: float = REFRESH_S, plain_every_s: float = PLAIN_EVERY_S,
                 wall: Callable[[], float] = time.time, console: Any = None) -> None:
        self.model, self.mode, self._console = model, mode, console
        self._write = write or (lambda line: print(line, flush=True))
        self._refresh_s, self._plain_every_s, self._wall = refresh_s, plain_every_s, wall
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Any = None
        self.failures = 0  # in a row
        self.errors = 0  # in all (what a test can look at)

    def start(self) -> "LiveView":
        if self.mode == "off":
            return self
        try:
            if self.mode == "rich":
                from rich.live import Live

                from chaosctl.console import default_console

                # redirect_stdout: the run's own lines scroll above the display
                self._live = Live(console=self._console or default_console(), refresh_per_second=4, transient=True,
                                  redirect_stdout=True)
                self._live.start()
            self._thread = threading.Thread(target=self._loop, name="chaosctl-live", daemon=True)
            self._thread.start()
        except Exception:  # noqa: BLE001 - no view is better than a run that fails for one
            self.errors += 1
            self._live = None
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._live is not None:
            try:
                self._live.stop()
            except Exception:  # noqa: BLE001
                self.errors += 1
            self._live = None

    def draw_once(self) -> None:
        """One refresh; errors are counted and swallowed."""
        try:
            snap = self.model.snapshot()
            if self.mode == "rich" and self._live is not None:
                self._live.update(rich_table(snap))
            elif self.mode == "plain":
                self._write(plain_line(snap, self._wall()))
            self.failures = 0
        except Exception:  # noqa: BLE001 - a source that fails (Prometheus down, a CSV mid-write) skips a frame
            self.failures += 1
            self.errors += 1

    def _loop(self) -> None:
        every = self._plain_every_s if self.mode == "plain" else self._refresh_s
        while not self._stop.is_set() and self.failures < MAX_FAILURES:
            self.draw_once()
            self._stop.wait(every)


def abort_values(conditions: Sequence[Any], query: Callable[[str], float | None]) -> tuple[AbortValue, ...]:
    """Each abort condition's current value (runner.abort.AbortRule); a failed query is no data."""
    out = []
    for cond in conditions:
        try:
            value = query(cond.promql)
        except Exception:  # noqa: BLE001
            value = None
        if value is not None and not math.isfinite(value):
            value = None
        out.append(AbortValue(cond.name, value, cond.holds(value)))
    return tuple(out)


def start_for_run(mode: Mode, conditions: Sequence[Any], journal: Any, prom: Any, load: Any, total_s: float) -> LiveView:
    """The run's live view over what it already has: Locust's stats history (the clients'
    view), the journal (faults in place), the abort conditions' PromQL."""
    from chaosctl.load.client import HISTORY_FILE

    out_dir = getattr(load, "out_dir", None)
    sources = LiveSources(
        client=(lambda: read_client_stats(out_dir / HISTORY_FILE)) if out_dir is not None else (lambda: None),
        faults=lambda: [r.label for r in journal.pending()],
        aborts=lambda: abort_values(conditions, lambda expr: prom.query(expr, time.time())),
    )
    return LiveView(LiveModel(total_s, sources), mode).start()
