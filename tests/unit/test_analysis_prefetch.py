"""The analysis asks Jaeger for every phase window at once, in threads, while Prometheus is asked
(Jaeger's answers were most of its wall time); each window is still read once, and an error
still surfaces where the traces are judged."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from test_run_outcomes import SCENARIO, FakeProm

from chaosctl.errors import StackUnavailable
from chaosctl.observe.jaeger import FetchResult
from chaosctl.observe.spans import Span
from chaosctl.runner.analysis import analyse
from chaosctl.runner.lost import LostBackends
from chaosctl.scenario import load_scenario
from chaosctl.stack.topology import Topology
from chaosctl.verdict.model import PhaseWindow


class SlowJaeger:
    """Each answer takes `delay` s; `all_asked` is set once every window was asked for."""

    def __init__(self, windows: int, delay: float = 0.3, dead: bool = False) -> None:
        self.windows, self.delay, self.dead = windows, delay, dead
        self.asked: list[tuple[float, float]] = []
        self.in_flight = self.most_in_flight = 0
        self.all_asked = threading.Event()
        self._lock = threading.Lock()

    def fetch(self, service: str, start: float, end: float) -> FetchResult:
        with self._lock:
            self.asked.append((start, end))
            if len(self.asked) >= self.windows:
                self.all_asked.set()
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        if self.dead:
            raise StackUnavailable("Jaeger at 127.0.0.1:8 unreachable: Connection refused")
        root = Span("t1", "s1", None, "gateway", "POST /v1/models/{model}/predict", int(start * 1e6), int(start * 1e6) + 1000)
        return FetchResult((root,), 1, 0, 0.0)


class WatchingProm(FakeProm):
    """Notes, at its first query, whether Jaeger had been asked for every window by then."""

    def __init__(self, jaeger: SlowJaeger) -> None:
        super().__init__()
        self.jaeger = jaeger
        self.jaeger_busy_at_first_query: bool | None = None

    def query(self, expr: str, at: float) -> float | None:
        if self.jaeger_busy_at_first_query is None:
            self.jaeger_busy_at_first_query = self.jaeger.all_asked.wait(2.0)
        return super().query(expr, at)


def _setup(tmp_path: Path, dead: bool = False) -> tuple[object, list[PhaseWindow], SlowJaeger, WatchingProm]:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path, Topology(31000))
    t0 = time.time() - 10
    windows = [PhaseWindow("baseline", t0, t0 + 1), PhaseWindow("fault", t0 + 1, t0 + 3), PhaseWindow("recovery", t0 + 3, t0 + 4)]
    jaeger = SlowJaeger(len(windows), dead=dead)
    return scenario, windows, jaeger, WatchingProm(jaeger)


def test_every_window_is_asked_of_jaeger_while_prometheus_is_and_read_once(tmp_path: Path) -> None:
    scenario, windows, jaeger, prom = _setup(tmp_path)
    result = analyse(scenario, windows, prom, jaeger, windows[0].start, windows[-1].end)  # type: ignore[arg-type]
    assert prom.jaeger_busy_at_first_query is True
    assert sorted(jaeger.asked) == sorted((w.start, w.end) for w in windows)  # once each, effects cut from them
    assert jaeger.most_in_flight > 1  # the answers came together, not one after another
    assert any(c.kind == "trace" and c.passed for c in result.checks)


def test_a_lost_jaeger_still_fails_only_the_trace_checks_naming_it(tmp_path: Path) -> None:
    scenario, windows, jaeger, prom = _setup(tmp_path, dead=True)
    lost = LostBackends()
    result = analyse(scenario, windows, prom, jaeger, windows[0].start, windows[-1].end, lost=lost)  # type: ignore[arg-type]
    traces = [c for c in result.checks if c.kind == "trace"]
    assert traces and all(not c.passed and "Jaeger at 127.0.0.1:8 unreachable" in c.reason for c in traces)
    assert all(c.passed for c in result.checks if c.kind == "slo")
    assert "Jaeger" in lost.lost
