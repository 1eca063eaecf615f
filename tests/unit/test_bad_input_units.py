"""The edge parsers of issue 10 part 6, one by one (the CLI tests show them end to end)."""

from __future__ import annotations

import math

import pytest

from chaosctl.console import markup, plain
from chaosctl.errors import ScenarioInvalid, UsageError
from chaosctl.scenario.units import (
    UnitError, parse_bytes, parse_duration, parse_flag_duration, parse_instant, parse_percent, parse_rate_kbps,
    parse_time_window,
)  # fmt: skip
from chaosctl.scenario.yamlsrc import parse_yaml
from chaosctl.settings import parse_backend, parse_port_base, parse_url


@pytest.mark.parametrize("parse, value", [
    (parse_duration, math.nan), (parse_duration, math.inf), (parse_duration, "9" * 400 + "h"), (parse_duration, "8785h"),
    (parse_bytes, math.inf), (parse_bytes, "9" * 400 + "GiB"), (parse_bytes, 2**61), (parse_rate_kbps, math.nan),
    (parse_rate_kbps, math.inf), (parse_percent, math.inf), (parse_percent, math.nan),
])  # fmt: skip
def test_non_finite_and_huge_values_are_unit_errors(parse, value) -> None:
    with pytest.raises(UnitError) as info:
        parse(value)
    assert len(str(info.value)) < 200  # a 400-digit input is cut in the message


def test_durations_up_to_a_year_are_fine() -> None:
    assert parse_duration("8760h") == 8760 * 3600.0


def test_flag_durations_and_windows() -> None:
    assert parse_flag_duration("15m", "--since") == 900.0
    with pytest.raises(UnitError, match="--since"):
        parse_flag_duration("0s", "--since")
    assert parse_instant("2026-11-25T10:00:00Z", "--window") == 1795600800.0
    for bad in ("nan", "inf", "-1", "1e17", "2026-13-45", "10000-01-01"):
        with pytest.raises(UnitError, match="--window"):
            parse_instant(bad, "--window")
    assert parse_time_window("100..200", "--window") == (100.0, 200.0)
    with pytest.raises(UnitError, match="longer than"):
        parse_time_window("0..99999999", "--window")


def test_yaml_timestamps_stay_text_and_bad_scalars_are_located() -> None:
    data, _ = parse_yaml(b"a: 2026-02-30\nb: 2026-11-25 99:00:00\nc: 2026-11-25\n", "x.yaml")
    assert data == {"a": "2026-02-30", "b": "2026-11-25 99:00:00", "c": "2026-11-25"}
    with pytest.raises(ScenarioInvalid, match=r"^x.yaml:2:4: number with 5001 digits"):
        parse_yaml(b"a: 1\nb: 1" + b"0" * 5000 + b"\n", "x.yaml")
    with pytest.raises(ScenarioInvalid, match=r"^x.yaml:2:4: cannot read this value"):
        parse_yaml(b"a: 1\nb: !!float ''\n", "x.yaml")  # ruamel raised IndexError here


def test_plain_and_markup() -> None:
    assert plain("a\x1b[2Jb\u202ec\x00\td\ne") == "a[2Jbc d e"
    assert plain("a\nb", multiline=True) == "a\nb"
    assert markup("[bold]x[/]") == "\\[bold]x\\[/]"


def test_settings_values() -> None:
    assert parse_port_base(" 17000 ") == 17000
    for bad in ("abc", "1023", "65400", "1e4", ""):
        with pytest.raises(UsageError, match="CHAOSCTL_PORT_BASE"):
            parse_port_base(bad)
    assert parse_backend("Docker") == "docker"
    with pytest.raises(UsageError, match="--backend"):
        parse_backend("k8s", "--backend")
    assert parse_url("http://127.0.0.1:3000/", "X") == "http://127.0.0.1:3000"
    for bad in ("127.0.0.1:3000", "ftp://x", "http://", "http://h:99999", "http://[::1"):
        with pytest.raises(UsageError, match="X="):
            parse_url(bad, "X")
