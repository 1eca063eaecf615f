"""How much of a window the data behind a verdict covers.

A `rate()` over a phase window happily uses the samples from before the gateway
died, so a value alone proves nothing about the rest of the window. Coverage is
measured on the scrape jobs the SLI reads, from Prometheus' own `up` series:

    present  = min over the job's instances of count_over_time(up{job=J}[W])   (scrapes recorded)
    up       = min over the job's instances of sum_over_time(up{job=J}[W])     (scrapes that succeeded)
    grid     = floor(W / scrape interval)                                     (scrapes a window this long holds)
    expected = grid - 1 when grid >= 10, else grid                            (the least a fully scraped window holds)
    coverage = min(1, up / expected); 0 when grid < 2 (window too short for the scrape interval)

Scrapes run on a fixed grid, so a window of W s at a 1 s interval holds floor(W) or
floor(W)+1 grid points; but a sample carries the time its scrape ran, late under load,
so the last one can land just past the window's end. One scrape less than the floor is
therefore what a fully scraped window is sure to hold (without that allowance, a 6 s
phase whose last scrape ran 100 ms late would read 5 of 6 = 83% with nothing lost).
The allowance is bounded: it is one scrape of the window, so it is granted only when the
window holds at least 10 (TOLERANCE_MIN_SCRAPES) and hides at most a tenth of it; with a
long interval it would hide half a phase (2 scrapes expected, 1 present = 100%). Below 10
there is no allowance (a late last scrape then reads short: a FAIL, never a false PASS),
and a window holding fewer than 2 scrapes cannot show coverage at all: FAIL "window too
short for the scrape interval".
A window's coverage is the worst of its jobs'. A job that is not a scrape target
(unknown interval) has coverage 0: no evidence is never full evidence.

Which jobs an SLI reads (`source_jobs`): the built-in SLIs read the gateway; a raw
PromQL query reads the jobs it names with `job="..."` plus the jobs of every series
its selectors match in the window (asked of Prometheus). A query that reads no
scraped series at all has no coverage (FAIL).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from chaosctl.verdict.model import PhaseWindow

DEFAULT_MIN_COVERAGE = 0.9
TOLERANCE_MIN_SCRAPES = 10  # a window holding this many scrapes may miss one (see the module doc)
MIN_SCRAPES = 2  # fewer: the window is too short for the scrape interval
_JOB_EQ = re.compile(r"""\bjob\s*=\s*"((?:[^"\\]|\\.)*)\"""")


class ScrapeSource(Protocol):
    def query(self, expr: str, at: float) -> float | None: ...
    def scrape_intervals(self) -> dict[str, float]: ...


class Labelled(Protocol):
    labels: tuple[tuple[str, str], ...]


class SeriesSource(ScrapeSource, Protocol):
    def samples(self, expr: str, at: float) -> Sequence[Labelled]: ...
    def metric_names(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class JobCoverage:
    job: str
    window_s: float
    interval_s: float | None  # None: not a scrape target of this Prometheus
    present: int  # scrapes recorded in the window (worst instance)
    up: int  # of which succeeded (up == 1)

    @property
    def grid(self) -> int:
        """Scrapes a window this long holds on the job's interval."""
        return math.floor(self.window_s / self.interval_s + 1e-6) if self.interval_s else 0

    @property
    def too_short(self) -> bool:
        return bool(self.interval_s) and self.grid < MIN_SCRAPES

    @property
    def expected(self) -> int:
        if not self.interval_s:
            return 0
        return self.grid - 1 if self.grid >= TOLERANCE_MIN_SCRAPES else max(1, self.grid)  # late last scrape: only long windows

    @property
    def ratio(self) -> float:
        return 0.0 if not self.expected or self.too_short else min(1.0, self.up / self.expected)

    @property
    def covered_s(self) -> float:
        return min(self.window_s, self.up * (self.interval_s or 0.0))

    def describe(self) -> str:
        if self.interval_s is None:
            return f"{self.job} is not a scrape target of Prometheus"
        if self.too_short:
            return (f"window too short for the scrape interval: {_secs(self.window_s)} s holds fewer than "
                    f"{MIN_SCRAPES} scrapes of {self.job} (every {_secs(self.interval_s)} s)")
        text = f"{self.job} scraped {_secs(self.covered_s)} of {_secs(self.window_s)} s"
        if self.present < self.expected:  # Prometheus itself missed scrapes (down, restarted)
            text += f" (Prometheus holds {self.present} of {self.expected} scrapes)"
        return text


@dataclass(frozen=True)
class Coverage:
    window: str
    jobs: tuple[JobCoverage, ...]
    problem: str = ""  # why the sources could not be established (then coverage is 0)

    @property
    def ratio(self) -> float:
        if self.problem or not self.jobs:
            return 0.0
        return min(j.ratio for j in self.jobs)

    def holds(self, threshold: float) -> bool:
        return self.ratio >= threshold

    def reason(self, threshold: float) -> str:
        """'partial data: gateway scraped 19 of 40 s (49% < 90% of phase 'fault')'."""
        if self.problem or not self.jobs:
            return f"partial data: {self.problem or 'no scrape job behind the query'}"
        short = [j for j in self.jobs if j.ratio < threshold] or [min(self.jobs, key=lambda j: j.ratio)]
        if any(j.too_short for j in short):  # no coverage can be shown at all: not "partial"
            return f"{'; '.join(j.describe() for j in short if j.too_short)} (phase {self.window!r})"
        parts = "; ".join(j.describe() for j in short)
        return f"partial data: {parts} ({self.ratio:.0%} < {threshold:.0%} of phase {self.window!r})"

    def describe(self) -> str:
        if self.problem or not self.jobs:
            return f"{self.window}: {self.problem or 'no scrape job'}"
        return f"{self.window}: " + ", ".join(f"{j.job} {j.ratio:.0%} ({_secs(j.covered_s)}/{_secs(j.window_s)} s)" for j in self.jobs)


def _secs(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


def up_exprs(job: str, window: str) -> tuple[str, str]:
    """(scrapes recorded, scrapes that succeeded) of the job's worst instance over `window`."""
    sel = f'up{{job="{_escape(job)}"}}'
    return f"min(count_over_time({sel}[{window}]))", f"min(sum_over_time({sel}[{window}]))"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def named_jobs(expr: str) -> tuple[str, ...]:
    """Jobs a PromQL expression names with an equality matcher, e.g. up{job="gateway"}."""
    found = (m.replace('\\"', '"').replace("\\\\", "\\") for sel in _selector_texts(expr) for m in _JOB_EQ.findall(sel))
    return tuple(dict.fromkeys(found))


# A small scanner, not a PromQL parser: it only has to find the vector selectors. String
# literals are skipped whole, a `{...}` block is taken whole (label names inside it are never
# mistaken for metrics), an identifier followed by `(` is a function or an aggregation. What is
# left are candidates; only those that Prometheus knows as metric names count (`selectors`).
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_BRACES = rf'\{{(?:{_STRING}|[^}}"\'`])*\}}'
_TOKEN = re.compile(
    rf"(?P<str>{_STRING})|(?<![\w:.])(?P<id>[a-zA-Z_:][\w:]*)(?P<sel>\s*{_BRACES})?(?P<call>\s*\()?|(?P<bare>{_BRACES})"
)


def _candidates(expr: str) -> list[tuple[str, str]]:
    """(metric name or "", matchers block or "") of each possible vector selector, in order."""
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(expr):
        if m["bare"]:
            out.append(("", m["bare"]))
        elif m["id"] and not m["call"]:
            out.append((m["id"], (m["sel"] or "").strip()))
    return out


def _selector_texts(expr: str) -> list[str]:
    return [name + block for name, block in _candidates(expr) if block]


# PromQL words that are not metric names wherever they stand (functions and aggregations are
# recognised by the `(` that follows them).
KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                      "offset", "bool", "atan2", "start", "end", "inf", "nan"})


def candidate_selectors(expr: str) -> tuple[str, ...]:
    """Every possible vector selector of `expr` without asking Prometheus which metrics exist: a
    label name of a `by (...)` list may be among them, which reads no series and so does no harm."""
    found = [name + block for name, block in _candidates(expr) if name.lower() not in KEYWORDS]
    return tuple(dict.fromkeys(f for f in found if f))


def selectors(expr: str, metric_names: frozenset[str] | set[str]) -> tuple[str, ...]:
    """The vector selectors of `expr` that read series: `name{...}` with a metric Prometheus
    knows, or a bare `{...}` (which names its metric with __name__)."""
    found = [name + (block or "") for name, block in _candidates(expr) if (name in metric_names) or (not name and block)]
    return tuple(dict.fromkeys(found))


def jobs_of_query(prom: "SeriesSource", expr: str, window: PhaseWindow, literal: str,
                  metric_names: frozenset[str]) -> tuple[tuple[str, ...], str]:
    """(jobs the query reads over the window, problem). The rule: the jobs it names with
    job="..." plus the job of every series its selectors match in the window."""
    jobs = list(named_jobs(expr))
    for sel in selectors(expr, metric_names):
        for sample in prom.samples(f"group by (job) (last_over_time({sel}[{literal}]))", window.end):
            job = dict(sample.labels).get("job")
            if job is None:
                return tuple(jobs), f"series of {sel} carry no job label: their scrapes cannot be checked"
            jobs.append(job)
    jobs = list(dict.fromkeys(jobs))
    return tuple(jobs), "" if jobs else "the query reads no scraped series in the window"


@dataclass
class CoverageMeter:
    """Measures (and remembers, for the report's notes) the coverage of jobs over windows."""

    prom: SeriesSource
    _intervals: dict[str, float] | None = None
    _names: frozenset[str] | None = None
    _cache: dict[tuple[str, float, float], JobCoverage] = field(default_factory=dict)
    seen: dict[tuple[str, float, float], Coverage] = field(default_factory=dict)

    def intervals(self) -> dict[str, float]:
        if self._intervals is None:
            self._intervals = dict(self.prom.scrape_intervals())
        return self._intervals

    def metric_names(self) -> frozenset[str]:
        if self._names is None:
            self._names = frozenset(self.prom.metric_names())
        return self._names

    def job(self, job: str, window: PhaseWindow, literal: str) -> JobCoverage:
        key = (job, window.start, window.end)
        if key not in self._cache:
            count_expr, sum_expr = up_exprs(job, literal)
            present, up = self.prom.query(count_expr, window.end), self.prom.query(sum_expr, window.end)
            self._cache[key] = JobCoverage(job, window.seconds, self.intervals().get(job), _count(present), _count(up))
        return self._cache[key]

    def of(self, jobs: Sequence[str], window: PhaseWindow, literal: str, problem: str = "") -> Coverage:
        cov = Coverage(window.name, tuple(self.job(j, window, literal) for j in jobs), problem)
        self.seen[(",".join(jobs) or problem, window.start, window.end)] = cov
        return cov

    def notes(self) -> list[str]:
        """One line per window and set of jobs measured, in the order they were measured."""
        return [f"coverage {c.describe()}" for c in self.seen.values()]


def _count(value: float | None) -> int:
    return 0 if value is None or math.isnan(value) else int(round(value))


def default_threshold(value: float | None) -> float:
    return DEFAULT_MIN_COVERAGE if value is None else value
