"""Objectives and thresholds, parsed from the short strings scenarios use.

    "< 300ms"              absolute, seconds
    ">= 99.5%"             absolute, ratio (0.995)
    "< 50"                 absolute, plain number
    "<= 2x baseline"       relative: observed <= 2 * value in phase `baseline`
    "<= baseline + 50ms"   relative: observed <= value in `baseline` + 0.05 s
    "burn_rate < 14.4"     error-budget burn rate (the SLO's `target` gives the budget)
    "<= last_pass + 10%"   regression gate: observed <= 1.1 * the same check's value in the
    "<= 1.1x last_pass"    last passing run of the scenario (run history, chaosctl.history);
                           `+ 10%` is relative, `+ 50ms` absolute; `last_pass` is reserved

The verdict code takes these typed objects; `holds()` never passes on NaN or
a missing baseline, so "no data" can never turn into a pass.
"""

# No `from __future__ import annotations` in model modules: pydantic would compile and eval each
# annotation string at class creation (a few % of `chaosctl validate`, benchmarks/validate_startup.py).

import math
import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from .units import UnitError, format_duration, format_percent, parse_duration, parse_percent

Op = Literal["<", "<=", ">", ">="]
Unit = Literal["seconds", "ratio", "number"]

_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QTY = rf"{_NUM}\s*(?:ms|us|µs|ns|h|m|s|%|/s|rps)?(?:{_NUM}(?:ms|us|µs|ns|h|m|s))*"
_PHASE = r"[A-Za-z_][A-Za-z0-9_.-]*"
_OP = r"<=|>=|<|>"
# Patterns, not compiled ones: re compiles (and caches) each on first use, so the forms a file does
# not use cost `validate` nothing.
_ABSOLUTE = rf"(?P<op>{_OP})\s*(?P<qty>{_QTY})"
_FACTOR = rf"(?P<op>{_OP})\s*(?P<factor>{_NUM})\s*[x×*]\s*(?P<phase>{_PHASE})"
_OFFSET = rf"(?P<op>{_OP})\s*(?P<phase>{_PHASE})(?:\s*(?P<sign>[+-])\s*(?P<qty>{_QTY}))?"
_LAST_FACTOR = rf"(?P<op>{_OP})\s*(?P<factor>{_NUM})\s*[x×*]\s*last_pass"
_LAST_OFFSET = rf"(?P<op>{_OP})\s*last_pass(?:\s*(?P<sign>[+-])\s*(?P<qty>{_QTY}))?"
_BURN = rf"burn_rate\s*(?P<op>{_OP})\s*(?P<qty>{_NUM})"
_CONDITION = rf"(?P<lhs>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<rest>(?:{_OP}).*)"

_FORMS = ("'< 300ms', '>= 99.5%', '< 50', '<= 2x baseline', '<= baseline + 50ms', 'burn_rate < 14.4' "
          "or '<= last_pass + 10%'")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use (types.Frozen)


def compare(op: Op, observed: float, bound: float) -> bool:
    """`observed OP bound`; NaN on either side is never true."""
    if math.isnan(observed) or math.isnan(bound):
        return False
    return {"<": observed < bound, "<=": observed <= bound, ">": observed > bound, ">=": observed >= bound}[op]


def _number(text: str) -> float:
    """float(text), refusing what overflows to infinity (`< 1e400` would hold for every observation)."""
    value = float(text)
    if not math.isfinite(value):
        raise UnitError(f"{text[:40]!r} is not a finite number")
    return value


def parse_quantity(text: str) -> tuple[float, Unit]:
    """`300ms` -> (0.3, seconds); `99.5%` -> (0.995, ratio); `50` / `20/s` -> (50, number)."""
    text = text.strip().replace(" ", "")
    if text.endswith("%"):
        return parse_percent(text), "ratio"
    for suffix in ("/s", "rps"):
        if text.endswith(suffix):
            return _number(text[: -len(suffix)]), "number"
    try:
        float(text)
    except ValueError:
        return parse_duration(text), "seconds"
    return _number(text), "number"


def _show(value: float, unit: Unit) -> str:
    if unit == "seconds":
        return format_duration(value)
    if unit == "ratio":
        return format_percent(value)
    return f"{value:g}"


class AbsoluteObjective(_Frozen):
    kind: Literal["absolute"] = "absolute"
    op: Op
    value: float  # seconds, fraction or plain number, per `unit`
    unit: Unit

    def holds(self, observed: float | None, baseline: float | None = None) -> bool:
        return observed is not None and compare(self.op, observed, self.value)

    def describe(self) -> str:
        return f"{self.op} {_show(self.value, self.unit)}"


class RelativeObjective(_Frozen):
    """observed OP factor * phase_value + offset."""

    kind: Literal["relative"] = "relative"
    op: Op
    phase: str
    factor: float = 1.0
    offset: float = 0.0
    unit: Unit = "number"  # the unit of `offset`

    def bound(self, baseline: float | None) -> float | None:
        if baseline is None or math.isnan(baseline):
            return None
        return self.factor * baseline + self.offset

    def holds(self, observed: float | None, baseline: float | None = None) -> bool:
        bound = self.bound(baseline)
        return observed is not None and bound is not None and compare(self.op, observed, bound)

    def describe(self) -> str:
        if self.offset:
            sign = "+" if self.offset > 0 else "-"
            return f"{self.op} {self.phase} {sign} {_show(abs(self.offset), self.unit)}"
        if self.factor == 1.0:
            return f"{self.op} {self.phase}"
        return f"{self.op} {self.factor:g}x {self.phase}"


class BurnRateObjective(_Frozen):
    """Error-budget burn rate (SRE workbook): error_ratio / (1 - target) OP value."""

    kind: Literal["burn_rate"] = "burn_rate"
    op: Op
    value: float

    def holds(self, observed: float | None, baseline: float | None = None) -> bool:
        return observed is not None and compare(self.op, observed, self.value)

    def describe(self) -> str:
        return f"burn_rate {self.op} {self.value:g}"


class LastPassObjective(_Frozen):
    """observed OP factor * last + offset, where `last` is the same check's value in the last
    passing run of the scenario. Only the run history knows `last` (chaosctl.history.gate
    judges it after the run's SLO values are known)."""

    kind: Literal["last_pass"] = "last_pass"
    op: Op
    factor: float = 1.0
    offset: float = 0.0
    unit: Unit = "number"  # the unit of `offset`
    margin: float | None = None  # `+ 10%` as written (0.10), for describe()

    @property
    def value(self) -> float:
        """NaN: a judge that does not know the history can never pass this objective."""
        return math.nan

    def bound(self, last: float | None) -> float | None:
        if last is None or math.isnan(last):
            return None
        return self.factor * last + self.offset

    def holds(self, observed: float | None, baseline: float | None = None) -> bool:
        bound = self.bound(baseline)
        return observed is not None and bound is not None and compare(self.op, observed, bound)

    def describe(self) -> str:
        if self.margin is not None:
            sign = "+" if self.margin >= 0 else "-"
            return f"{self.op} last_pass {sign} {format_percent(abs(self.margin))}"
        if self.offset:
            sign = "+" if self.offset > 0 else "-"
            return f"{self.op} last_pass {sign} {_show(abs(self.offset), self.unit)}"
        return f"{self.op} last_pass" if self.factor == 1.0 else f"{self.op} {self.factor:g}x last_pass"


def _last_pass(match: re.Match[str], factor: bool) -> LastPassObjective:
    """`<= 1.1x last_pass`, `<= last_pass + 10%` (relative: x 1.10), `<= last_pass + 50ms` (absolute)."""
    if factor:
        value = float(match["factor"])
        if not math.isfinite(value):
            raise UnitError(f"bad objective {match.string!r}: {match['factor'][:40]!r} is not a finite number")
        return LastPassObjective(op=match["op"], factor=value)
    if not match["qty"]:
        return LastPassObjective(op=match["op"])
    amount, unit = parse_quantity(match["qty"])
    amount = -amount if match["sign"] == "-" else amount
    if unit == "ratio":
        if amount <= -1.0:
            raise UnitError(f"bad objective {match.string!r}: a margin of {format_percent(amount)} leaves nothing of last_pass")
        return LastPassObjective(op=match["op"], factor=1.0 + amount, margin=amount)
    return LastPassObjective(op=match["op"], offset=amount, unit=unit)


Objective = Annotated[
    Union[AbsoluteObjective, RelativeObjective, BurnRateObjective, LastPassObjective], Field(discriminator="kind")
]


class SliCondition(_Frozen):
    """`error_ratio > 0.5`: a built-in SLI and a threshold (abort conditions)."""

    sli: str
    threshold: AbsoluteObjective

    def describe(self) -> str:
        return f"{self.sli} {self.threshold.describe()}"


def parse_threshold(text: object) -> AbsoluteObjective:
    """`> 0.5`, `< 300ms`, `>= 99%` -> AbsoluteObjective."""
    if not isinstance(text, str):
        raise UnitError(f"expected a condition like '> 0.5' or '< 300ms', got {text!r}")
    match = re.fullmatch(_ABSOLUTE, text.strip())
    if not match:
        raise UnitError(f"bad condition {text!r}: expected an operator and a value, e.g. '> 0.5', '< 300ms', '>= 99%'")
    value, unit = parse_quantity(match["qty"])
    return AbsoluteObjective(op=match["op"], value=value, unit=unit)


def parse_objective(
    text: object, burn_rate: bool = False
) -> AbsoluteObjective | RelativeObjective | BurnRateObjective | LastPassObjective:
    """Parse an objective string (see the module doc). `burn_rate` makes `< 14.4` a burn-rate objective."""
    if isinstance(text, (AbsoluteObjective, RelativeObjective, BurnRateObjective, LastPassObjective)):
        return text
    if not isinstance(text, str):
        raise UnitError(f"expected an objective string such as {_FORMS}, got {text!r}")
    s = text.strip()
    if match := re.fullmatch(_BURN, s):
        return BurnRateObjective(op=match["op"], value=_number(match["qty"]))
    if match := re.fullmatch(_ABSOLUTE, s):
        if burn_rate:
            return BurnRateObjective(op=match["op"], value=float(parse_quantity(match["qty"])[0]))
        value, unit = parse_quantity(match["qty"])
        return AbsoluteObjective(op=match["op"], value=value, unit=unit)
    if match := re.fullmatch(_LAST_FACTOR, s):
        return _last_pass(match, factor=True)
    if match := re.fullmatch(_LAST_OFFSET, s):
        return _last_pass(match, factor=False)
    if match := re.fullmatch(_FACTOR, s):
        return RelativeObjective(op=match["op"], phase=match["phase"], factor=_number(match["factor"]))
    if match := re.fullmatch(_OFFSET, s):
        offset, unit = (0.0, "number")
        if match["qty"]:
            offset, unit = parse_quantity(match["qty"])
            offset = -offset if match["sign"] == "-" else offset
        return RelativeObjective(op=match["op"], phase=match["phase"], offset=offset, unit=unit)
    raise UnitError(f"bad objective {text!r}: expected {_FORMS}")


def parse_sli_condition(text: object, known_slis: tuple[str, ...]) -> SliCondition:
    """`error_ratio > 0.5` -> SliCondition; the SLI must be a built-in one."""
    if isinstance(text, SliCondition):
        return text
    match = re.fullmatch(_CONDITION, text.strip()) if isinstance(text, str) else None
    if not match:
        raise UnitError(f"bad condition {text!r}: expected '<sli> <op> <value>', e.g. 'error_ratio > 0.5'")
    if match["lhs"] not in known_slis:
        raise UnitError(f"unknown SLI {match['lhs']!r} in {text!r} (known: {', '.join(known_slis)})")
    return SliCondition(sli=match["lhs"], threshold=parse_threshold(match["rest"]))
