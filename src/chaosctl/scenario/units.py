"""Units of the scenario format: durations, percentages, byte sizes, rates.

Durations always carry a unit (`200ms`, `30s`, `1m30s`, `1h`): a bare `200`
could mean milliseconds (Toxiproxy's unit) or seconds, and in a chaos tool a
100x misunderstanding is a real outage, so it is refused (0 alone is allowed).
Everything is normalised to float seconds, fractions (0.995) and int bytes.

`UnitError` is both a `ValueError` (pydantic turns it into a located
validation error) and a `UsageError` (the CLI maps it to exit 2 without a
traceback when a command-line option such as `--ttl` is wrong).

Every parser refuses what is not a finite number (`.nan`, `.inf`, 400 digits
that overflow to inf) and caps magnitudes (`MAX_DURATION_S`, `MAX_BYTES`), so
nothing downstream (timers, Toxiproxy's int fields, datetime) overflows.
"""

from __future__ import annotations

import math
import re

from chaosctl.errors import UsageError

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION_PART = re.compile(rf"({_NUM})(ms|us|µs|ns|h|m|s)")
_DURATION_FULL = re.compile(rf"(?:{_NUM}(?:ms|us|µs|ns|h|m|s))+")
_BYTE_UNITS = {
    "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
_BYTES_RE = rf"({_NUM})\s*([kmgt]i?b|b)"  # compiled on first use (re's cache): most files have no size
_PERCENT_RE = re.compile(rf"([+-]?{_NUM})\s*%")


MAX_DURATION_S = 366 * 86400.0  # a year: longer is a typo, and timers overflow past ~292 years
MAX_BYTES = 2**60  # an exbibyte: beyond any device and any int64 field


class UnitError(UsageError, ValueError):
    """A value with a missing or unknown unit."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(value: object, limit: int = 40) -> str:
    """repr() of a user value, cut so that a 400-digit number does not flood the terminal."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"


def _finite(value: float, what: str, shown: object, limit: float) -> float:
    """`value` when finite and at most `limit`, else a UnitError naming the input as written."""
    if not math.isfinite(value):
        raise UnitError(f"{what} {_shown(shown)} is not a finite number")
    if abs(value) > limit:
        raise UnitError(f"{what} {_shown(shown)} is too large (at most {limit:g})")
    return value


def parse_duration(value: str | int | float) -> float:
    """`30s`, `1m30s`, `200ms`, `1.5s`, `1h` -> seconds. A bare number must be 0."""
    if _is_number(value):
        if value == 0:
            return 0.0
        _finite(float(value), "duration", value, math.inf)
        raise UnitError(f"duration {_shown(value)} needs a unit, e.g. '{value}s' or '{value}ms'")
    if not isinstance(value, str):
        raise UnitError(f"expected a duration like '30s' or '200ms', got {_shown(value)}")
    text = value.strip().replace(" ", "")
    if text in {"0", "0.0"}:
        return 0.0
    if not _DURATION_FULL.fullmatch(text):
        raise UnitError(
            f"bad duration {_shown(value)}: use a number with a unit among h, m, s, ms, us (e.g. '30s', '1m30s', '200ms')"
        )
    seconds = sum(float(num) * _DURATION_UNITS[unit] for num, unit in _DURATION_PART.findall(text))
    if seconds > MAX_DURATION_S or not math.isfinite(seconds):
        raise UnitError(f"duration {_shown(value)} is too long (at most 366 days)")
    return seconds


def parse_percent(value: str | int | float) -> float:
    """`99.5%` -> 0.995; a bare number is taken as a fraction in [0, 1]."""
    if _is_number(value):
        fraction = float(value)
    elif isinstance(value, str):
        text = value.strip()
        match = _PERCENT_RE.fullmatch(text)
        if match:
            fraction = float(match.group(1)) / 100.0
        else:
            try:
                fraction = float(text)
            except ValueError:
                raise UnitError(f"bad percentage {_shown(value)}: use e.g. '95%' or a fraction like 0.95") from None
    else:
        raise UnitError(f"expected a percentage like '95%' or a fraction like 0.95, got {_shown(value)}")
    if math.isnan(fraction) or not 0.0 <= fraction <= 1.0:
        raise UnitError(f"percentage {_shown(value)} is out of range: must be between 0% and 100% (0..1 as a fraction)")
    return fraction


def parse_bytes(value: str | int | float) -> int:
    """`14GiB` -> 15032385536, `512MB` -> 512000000; a bare integer is bytes."""
    if _is_number(value):
        _finite(float(value), "byte size", value, MAX_BYTES)
        if value < 0 or float(value) != int(value):
            raise UnitError(f"byte size {_shown(value)} must be a whole, non-negative number of bytes")
        return int(value)
    if not isinstance(value, str):
        raise UnitError(f"expected a byte size like '14GiB' or '512MB', got {_shown(value)}")
    match = re.fullmatch(_BYTES_RE, value.strip(), re.IGNORECASE)
    if not match:
        raise UnitError(f"bad byte size {_shown(value)}: use e.g. '14GiB', '512MiB', '100KB' or a number of bytes")
    size = _finite(float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()], "byte size", value, MAX_BYTES)
    return int(round(size))


def parse_rate_kbps(value: str | int | float) -> int:
    """Bandwidth in Toxiproxy's unit, KB/s (1000 bytes): `100KB/s`, `1MB/s`, `64KiB/s`, or a bare KB/s number."""
    if _is_number(value):
        _finite(float(value), "rate", value, MAX_BYTES / 1000)
        if value < 0:
            raise UnitError(f"rate {_shown(value)} must not be negative")
        return int(value)
    if isinstance(value, str) and value.strip().endswith("/s"):
        return max(0, int(round(parse_bytes(value.strip()[:-2]) / 1000)))
    raise UnitError(f"bad rate {_shown(value)}: use e.g. '100KB/s', '1MB/s' or a number of KB/s")


MAX_WINDOW_S = 31 * 86400.0  # a trace/metric window: Jaeger keeps days, not years; longer was a hang
LATEST_INSTANT = 253402300799.0  # 9999-12-31T23:59:59Z, the last second datetime can hold


def parse_flag_duration(text: str, flag: str, limit: float = MAX_DURATION_S) -> float:
    """A positive duration given on the command line (`--since`, `--ttl`), the error naming the flag."""
    try:
        seconds = parse_duration(text)
    except UnitError as exc:
        raise UnitError(f"{flag}: {exc}") from None
    if not 0 < seconds <= limit:
        raise UnitError(f"{flag}: {_shown(text)} must be more than 0 and at most {format_duration(limit)}")
    return seconds


def parse_instant(text: str, flag: str) -> float:
    """Unix seconds or ISO 8601 (a naive time is local), within 1970..9999."""
    from datetime import datetime

    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            raise UnitError(f"{flag}: {_shown(text)} is neither ISO 8601 (2026-11-25T10:00:00Z) nor unix seconds") from None
    if not 0 <= value <= LATEST_INSTANT:  # NaN fails too
        raise UnitError(f"{flag}: {_shown(text)} is not a time between 1970 and 9999")
    return value


def parse_time_window(text: str, flag: str, limit: float = MAX_WINDOW_S) -> tuple[float, float]:
    """`START..END`, END after START and at most `limit` later."""
    a, sep, b = text.partition("..")
    if not sep:
        raise UnitError(f"{flag}: expected START..END, got {_shown(text)}")
    start, end = parse_instant(a, flag), parse_instant(b, flag)
    if end <= start:
        raise UnitError(f"{flag}: the end {_shown(b)} is not after the start {_shown(a)}")
    if end - start > limit:
        raise UnitError(f"{flag}: a window of {format_duration(end - start)} is longer than {format_duration(limit)}")
    return start, end


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest readable form: 0.2 -> '200ms', 90 -> '1m30s'."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms" if ms >= 1 else f"{seconds * 1e6:g}us"
    whole_minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(whole_minutes), 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{rest:g}s" if rest else ""]
    return "".join(parts)


def format_percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"
