"""Units and objectives of the scenario format."""

from __future__ import annotations

import math

import pytest

from chaosctl.cli import exit_code_for
from chaosctl.errors import ChaosctlError, UsageError
from chaosctl.scenario.objective import (
    AbsoluteObjective,
    BurnRateObjective,
    RelativeObjective,
    parse_objective,
    parse_sli_condition,
    parse_threshold,
)
from chaosctl.scenario.units import (
    UnitError,
    format_duration,
    parse_bytes,
    parse_duration,
    parse_percent,
    parse_rate_kbps,
)


@pytest.mark.parametrize(
    "text,seconds",
    [("30s", 30.0), ("1m30s", 90.0), ("200ms", 0.2), ("1h", 3600.0), ("1.5s", 1.5), ("250us", 0.00025),
     ("2h15m", 8100.0), (" 45s ", 45.0), ("0", 0.0), (0, 0.0)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["30", 30, "30 sec", "1x", "ms", "", "-5s", "1m30", "1.2.3s", True, None, [1]])
def test_parse_duration_refuses_missing_or_unknown_units(bad: object) -> None:
    with pytest.raises(UnitError):
        parse_duration(bad)  # type: ignore[arg-type]


def test_unit_error_is_a_value_error_and_a_usage_error() -> None:
    """pydantic needs ValueError; the CLI (`token --ttl 1x`) needs exit 2 without a traceback."""
    with pytest.raises(ValueError):
        parse_duration("1x")
    with pytest.raises(UsageError) as info:
        parse_duration("1x")
    assert isinstance(info.value, ChaosctlError) and exit_code_for(info.value) == 2


@pytest.mark.parametrize("text,fraction", [("95%", 0.95), ("99.5%", 0.995), ("100%", 1.0), ("0%", 0.0), (0.25, 0.25), (1, 1.0), ("0.5", 0.5)])
def test_parse_percent(text: object, fraction: float) -> None:
    assert parse_percent(text) == pytest.approx(fraction)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["150%", 1.5, -0.1, "ninety%", "95 percent", "nan", None])
def test_parse_percent_refuses_out_of_range_and_garbage(bad: object) -> None:
    with pytest.raises(UnitError):
        parse_percent(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text,size",
    [("14GiB", 14 * 1024**3), ("512MiB", 512 * 1024**2), ("100KB", 100_000), ("1.5GB", 1_500_000_000), ("64b", 64), (4096, 4096)],
)
def test_parse_bytes(text: object, size: int) -> None:
    assert parse_bytes(text) == size  # type: ignore[arg-type]
    assert isinstance(parse_bytes(text), int)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["14 gigs", "GiB", -1, 1.5, "14XB"])
def test_parse_bytes_refuses_bad_sizes(bad: object) -> None:
    with pytest.raises(UnitError):
        parse_bytes(bad)  # type: ignore[arg-type]


def test_parse_rate_is_in_toxiproxy_kb_per_second() -> None:
    assert parse_rate_kbps("100KB/s") == 100
    assert parse_rate_kbps("1MB/s") == 1000
    assert parse_rate_kbps(64) == 64
    with pytest.raises(UnitError):
        parse_rate_kbps("100KB")


def test_format_duration_round_trips() -> None:
    for text in ("200ms", "30s", "1m30s", "1h", "2h15m"):
        assert format_duration(parse_duration(text)) == text


def test_absolute_objectives() -> None:
    assert parse_objective("< 300ms") == AbsoluteObjective(op="<", value=0.3, unit="seconds")
    ratio = parse_objective(">= 99.5%")
    assert (ratio.op, ratio.value, ratio.unit) == (">=", pytest.approx(0.995), "ratio")
    assert parse_objective("<50") == AbsoluteObjective(op="<", value=50.0, unit="number")
    assert parse_objective("> 20/s") == AbsoluteObjective(op=">", value=20.0, unit="number")
    assert parse_objective("< 1m30s").value == 90.0


def test_relative_objectives() -> None:
    assert parse_objective("<= 2x baseline") == RelativeObjective(op="<=", phase="baseline", factor=2.0)
    assert parse_objective("<= baseline + 50ms") == RelativeObjective(op="<=", phase="baseline", offset=0.05, unit="seconds")
    minus = parse_objective(">= baseline - 0.5%")
    assert (minus.phase, minus.offset, minus.unit) == ("baseline", pytest.approx(-0.005), "ratio")
    assert parse_objective("<= warm-up") == RelativeObjective(op="<=", phase="warm-up")


def test_burn_rate_objectives() -> None:
    assert parse_objective("burn_rate < 14.4") == BurnRateObjective(op="<", value=14.4)
    assert parse_objective("< 14.4", burn_rate=True) == BurnRateObjective(op="<", value=14.4)


@pytest.mark.parametrize("bad", ["300ms", "< ", "about 300ms", "<= 2y baseline", "< 300 parsecs", 300, None])
def test_bad_objectives_are_refused(bad: object) -> None:
    with pytest.raises(UnitError):
        parse_objective(bad)


def test_holds_never_passes_on_missing_data() -> None:
    absolute = parse_objective("< 300ms")
    assert absolute.holds(0.2) and not absolute.holds(0.3) and not absolute.holds(None) and not absolute.holds(math.nan)
    relative = parse_objective("<= 2x baseline")
    assert relative.holds(0.3, baseline=0.2)
    assert not relative.holds(0.5, baseline=0.2)
    assert not relative.holds(0.1, baseline=None), "a missing baseline is never a pass"
    assert not relative.holds(0.1, baseline=math.nan)
    offset = parse_objective("<= baseline + 50ms")
    assert offset.holds(0.25, baseline=0.2) and not offset.holds(0.26, baseline=0.2)


def test_conditions() -> None:
    cond = parse_sli_condition("error_ratio > 0.5", ("error_ratio", "latency_p99"))
    assert cond.sli == "error_ratio" and cond.threshold == AbsoluteObjective(op=">", value=0.5, unit="number")
    assert parse_sli_condition("latency_p99>2s", ("latency_p99",)).threshold.value == 2.0
    with pytest.raises(UnitError, match="unknown SLI"):
        parse_sli_condition("errors > 0.5", ("error_ratio",))
    assert parse_threshold(">= 1") == AbsoluteObjective(op=">=", value=1.0, unit="number")
