"""Numbers back from the report's human-readable `observed` strings.

Checks carry `observed` as text ("612 ms", "99.73%", "41.2 req/s", "0.8231"): that is what
report.json holds, and the history is built from report.json alone. Only the plain forms the
verdict writes are read back; anything else ("no data", "612 ms (partial)", "gateway: upstream
model-gpu-1 (71% of the critical path)", "12 spans in 300 traces") has no value, so it can
never be compared, let alone pass a regression gate.
"""

from __future__ import annotations

import math
import re

_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_FORM = re.compile(rf"(?P<num>{_NUM})\s*(?P<unit>ms|s|%|req/s)?")
# unit written -> (scale to the stored value, stored unit)
_UNITS: dict[str | None, tuple[float, str]] = {
    "ms": (1e-3, "seconds"), "s": (1.0, "seconds"), "%": (1e-2, "ratio"), "req/s": (1.0, "req/s"), None: (1.0, "number"),
}  # fmt: skip


def parse_observed(text: str) -> tuple[float | None, str]:
    """(value, unit) of an observed string: seconds, ratio (0..1), req/s or a plain number;
    (None, "") when it is not one plain number with one of those units."""
    match = _FORM.fullmatch(text.strip()) if text else None
    if not match:
        return None, ""
    value = float(match["num"])
    if not math.isfinite(value):
        return None, ""
    scale, unit = _UNITS[match["unit"]]
    return value * scale, unit


def show(value: float | None, unit: str) -> str:
    """A stored value as people read it (the verdict's own formats)."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "seconds":
        return f"{value * 1000:.4g} ms" if abs(value) < 10 else f"{value:.4g} s"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "req/s":
        return f"{value:.3g} req/s"
    return f"{value:.4g}"


def show_delta(delta: float | None, unit: str) -> str:
    """A signed difference: "+12.5 ms", "-0.40 pts", "+3.1 req/s"."""
    if delta is None or not math.isfinite(delta):
        return "-"
    sign = "+" if delta >= 0 else "-"
    if unit == "ratio":
        return f"{sign}{abs(delta) * 100:.2f} pts"
    return sign + show(abs(delta), unit)


def percent_change(before: float | None, after: float | None) -> float | None:
    """(after - before) / |before|; None when either is missing or before is 0."""
    if before is None or after is None or before == 0:
        return None
    return (after - before) / abs(before)
