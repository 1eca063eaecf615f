"""Time to recovery: seconds from a fault's revert until an SLI is back inside its baseline
band and stays there for a hold time. Pure functions over (unix seconds, value) points
from a Prometheus range query at a 1 s step (docs/verdicts.md, "Time to recovery").

The band: for an SLI where higher is worse (latency, error ratio) the value must be
<= baseline x (1 + tolerance) + slack; where higher is better (success ratio, throughput)
>= baseline x (1 - tolerance) - slack. The baseline is the median of the SLI's points in
the run's first phase. The slack (one percentage point for ratios, none otherwise) keeps
a baseline of exactly 0 errors from making every later error "out of band".

Recovered at the first point from which every point is in band for `hold` seconds, with
no gap longer than 1.5 steps (a gap is missing data: it cannot count as in band, so it
restarts the hold). TTR = that point - the revert. A hold that the phase's end cuts short,
no point after the revert, or no baseline: no TTR, and the reason says which.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

DEFAULT_TOLERANCE = 0.5
DEFAULT_HOLD_S = 3.0
STEP_S = 1.0
HIGHER_IS_BETTER = ("success_ratio", "throughput")
RATIO_SLIS = ("success_ratio", "error_ratio")
RATIO_SLACK = 0.01

Points = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Band:
    bound: float
    higher_is_better: bool

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return value >= self.bound if self.higher_is_better else value <= self.bound

    def describe(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.bound:.4g}"


@dataclass(frozen=True)
class Recovery:
    seconds: float | None  # None: not recovered (or not measurable): `reason` says why
    reason: str
    band: Band | None = None


def _finite(points: Points, start: float, end: float) -> list[tuple[float, float]]:
    return sorted((t, v) for t, v in points if start <= t <= end and math.isfinite(v))


def baseline_band(sli: str, points: Points, start: float, end: float, tolerance: float = DEFAULT_TOLERANCE) -> Band | None:
    """The band around the median of `points` in [start, end]; None without a point."""
    values = [v for _, v in _finite(points, start, end)]
    if not values:
        return None
    base = statistics.median(values)
    slack = RATIO_SLACK if sli in RATIO_SLIS else 0.0
    if sli in HIGHER_IS_BETTER:
        return Band(base * (1 - tolerance) - slack, True)
    return Band(base * (1 + tolerance) + slack, False)


def time_to_recovery(points: Points, band: Band, reverted_at: float, end: float,
                     hold_s: float = DEFAULT_HOLD_S, step_s: float = STEP_S) -> Recovery:
    window = end - reverted_at
    after = _finite(points, reverted_at, end)
    if not after:
        return Recovery(None, f"no data in the {window:.0f} s after the revert", band)
    since: float | None = None  # first point of the current in-band streak
    last: float | None = None
    longest = 0.0
    for t, v in after:
        if last is not None and t - last > 1.5 * step_s:
            since = None  # a gap is not evidence of being in band
        last = t
        if not band.holds(v):
            since = None
            continue
        since = t if since is None else since
        longest = max(longest, t - since)
        if t - since >= hold_s:
            return Recovery(max(0.0, since - reverted_at), f"back in band ({band.describe()}) and held {hold_s:g} s", band)
    held = f"; in band for at most {longest:.0f} s of the {hold_s:g} s hold" if longest or since is not None else ""
    return Recovery(None, f"not recovered within {window:.0f} s{held}", band)
