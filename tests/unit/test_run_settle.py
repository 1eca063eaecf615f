"""Before the first phase the run waits for one scrape of the running load (a condition,
not a fixed sleep), bounded by RunDeps.settle_s; and first, when the SLIs name scrape jobs,
until Prometheus has a target for each (bounded by discover_s, else a note)."""

from __future__ import annotations

import time

from chaosctl.errors import StackUnavailable
from chaosctl.runner.settle import wait_scraped


class FakeProm:
    """`min(timestamp(up))` answers `stamps` in turn (the last one repeats); an exception is raised.
    A per-job query answers from `jobs` (a list per job, consumed in turn, the last repeating)."""

    def __init__(self, *stamps: float | BaseException | None, jobs: dict[str, list] | None = None) -> None:
        self.stamps, self.calls, self.jobs = list(stamps), [], jobs or {}

    def query(self, expr: str, at: float) -> float | None:
        self.calls.append(expr)
        for job, values in self.jobs.items():
            if f'job="{job}"' in expr:
                return values.pop(0) if len(values) > 1 else values[0]
        value = self.stamps.pop(0) if len(self.stamps) > 1 else self.stamps[0]
        if isinstance(value, BaseException):
            raise value
        return value


def _wait(prom: FakeProm, since: float, settle_s: float, jobs: tuple[str, ...] = (),
          discover_s: float = 5.0) -> tuple[float, str | None]:
    began = time.monotonic()
    note = wait_scraped(prom, since, settle_s, jobs, discover_s=discover_s)
    return time.monotonic() - began, note


def test_returns_as_soon_as_every_target_was_scraped_after_the_load_started() -> None:
    since = time.time()
    prom = FakeProm(since - 0.5, None, since + 0.01)
    took, note = _wait(prom, since, settle_s=5.0)
    assert took < 1.0 and note is None
    assert prom.calls == ["min(timestamp(up))"] * 3


def test_an_older_scrape_is_waited_for_at_most_settle_s() -> None:
    since = time.time()
    took, _ = _wait(FakeProm(since - 0.2), since, settle_s=0.3)
    assert 0.25 <= took < 1.0


def test_prometheus_unreachable_or_rejecting_only_bounds_the_wait() -> None:
    since = time.time()
    for err in (StackUnavailable("Prometheus unreachable"), ValueError("rejected")):
        prom = FakeProm(err)
        took, _ = _wait(prom, since, settle_s=0.2)
        assert 0.15 <= took < 1.0
        assert len(prom.calls) >= 2


def test_a_job_prometheus_has_no_target_for_yet_is_waited_for_before_the_scrape() -> None:
    """A Prometheus started just before the run: its `api` target appears on the third try."""
    since = time.time()
    prom = FakeProm(since + 0.01, jobs={"api": [None, None, since + 0.01]})
    took, note = _wait(prom, since, settle_s=5.0, jobs=("api",))
    assert note is None and took < 2.0
    job_calls = [c for c in prom.calls if 'job="api"' in c]
    assert len(job_calls) == 3 and prom.calls[-1] == "min(timestamp(up))"


def test_a_job_that_never_gets_a_target_is_named_in_a_note_after_the_bound() -> None:
    since = time.time()
    took, note = _wait(FakeProm(since + 0.01, jobs={"api": [None]}), since, settle_s=5.0, jobs=("api",),
                       discover_s=0.3)
    assert 0.25 <= took < 1.5
    assert note is not None and "api" in note and "lack data" in note
