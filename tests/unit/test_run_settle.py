"""Before the first phase the run waits for one scrape of the running load (a condition,
not a fixed sleep), bounded by RunDeps.settle_s."""

from __future__ import annotations

import time
from types import SimpleNamespace

from chaosctl.errors import StackUnavailable
from chaosctl.runner.engine import Run, RunDeps


class FakeProm:
    """`min(timestamp(up))` answers `stamps` in turn (the last one repeats); an exception is raised."""

    def __init__(self, *stamps: float | BaseException | None) -> None:
        self.stamps, self.calls = list(stamps), []

    def query(self, expr: str, at: float) -> float | None:
        self.calls.append(expr)
        value = self.stamps.pop(0) if len(self.stamps) > 1 else self.stamps[0]
        if isinstance(value, BaseException):
            raise value
        return value


def _wait(prom: FakeProm, since: float, settle_s: float) -> float:
    began = time.monotonic()
    Run._wait_scraped(SimpleNamespace(deps=RunDeps(settle_s=settle_s)), prom, since)  # type: ignore[arg-type]
    return time.monotonic() - began


def test_returns_as_soon_as_every_target_was_scraped_after_the_load_started() -> None:
    since = time.time()
    prom = FakeProm(since - 0.5, None, since + 0.01)
    assert _wait(prom, since, settle_s=5.0) < 1.0
    assert prom.calls == ["min(timestamp(up))"] * 3


def test_an_older_scrape_is_waited_for_at_most_settle_s() -> None:
    since = time.time()
    took = _wait(FakeProm(since - 0.2), since, settle_s=0.3)
    assert 0.25 <= took < 1.0


def test_prometheus_unreachable_or_rejecting_only_bounds_the_wait() -> None:
    since = time.time()
    for err in (StackUnavailable("Prometheus unreachable"), ValueError("rejected")):
        prom = FakeProm(err)
        assert 0.15 <= _wait(prom, since, settle_s=0.2) < 1.0
        assert len(prom.calls) >= 2
