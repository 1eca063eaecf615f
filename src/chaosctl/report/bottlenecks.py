"""`chaosctl bottlenecks`: the trace analysis outside a scenario, on any Jaeger or on a file.

    chaosctl bottlenecks --jaeger http://127.0.0.1:16686 --service gateway --since 15m
    chaosctl bottlenecks --jaeger URL --service S --window A..B --baseline C..D
    chaosctl bottlenecks --file traces.json [--baseline-file before.json] [--json] [--per-trace]

Times in windows are ISO 8601 (`2026-11-25T10:00:00Z`) or unix seconds. A trace file is read
whole, so it is capped in size (MAX_FILE_BYTES, `--max-file-mb`); anything wrong with it exits 2
naming the file (and FILE:LINE:COL where there is one).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from chaosctl.errors import UsageError
from chaosctl.verdict.bottleneck import Aggregate, aggregate, diff, findings
from chaosctl.verdict.critical_path import TraceAnalysis, analyze
from chaosctl.observe.spans import Span, TraceFormatError, clean_name, parse_otlp_text

if TYPE_CHECKING:
    from chaosctl.observe.span_table import SpanTable

MAX_FILE_BYTES = 256 * 1024 * 1024  # JSON parsing takes ~10x the text in memory


@dataclass(frozen=True)
class BottleneckOptions:
    jaeger: str | None = None
    service: str | None = None
    since: str | None = None
    window: str | None = None
    baseline: str | None = None
    file: Path | None = None
    baseline_file: Path | None = None
    root_operation: str | None = None  # glob on the root span's operation, e.g. "POST /v1/*"
    as_json: bool = False
    per_trace: bool = False
    top: int = 15
    max_file_bytes: int = MAX_FILE_BYTES


_FLAGS = {"--json": "as_json", "--per-trace": "per_trace"}
_VALUES = {"--file": "file", "--baseline-file": "baseline_file", "--root-operation": "root_operation", "--top": "top",
           "--max-file-mb": "max_file_bytes"}


def options_from_argv(argv: list[str]) -> BottleneckOptions | None:
    """The options of a plain `bottlenecks --file F [--baseline-file B] [--root-operation G] [--json]
    [--per-trace] [--top N] [--max-file-mb N]` command line, as cli.py's command would build them,
    or None: then typer (cli.py, the one definition of the command line) reads it, and says what
    is wrong with it (a repeated or unknown option, a value that looks like an option, ...)."""
    if argv[:1] != ["bottlenecks"]:
        return None
    got: dict[str, object] = {}
    rest = iter(argv[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        field = _FLAGS.get(arg) or _VALUES.get(name)
        if field is None or field in got:
            return None
        if name in _VALUES:
            value = value if eq else next(rest, "")
            if not value or value.startswith("-"):
                return None
        got[field] = True if arg in _FLAGS else _option_value(field, value)
        if got[field] is None:
            return None
    if "file" not in got:
        return None  # --jaeger and the rest: cli.py
    return BottleneckOptions(**got)  # type: ignore[arg-type]


def _option_value(field: str, value: str) -> object:
    """The value as typer would give it, or None where typer might read it otherwise (it says then)."""
    if field in ("file", "baseline_file"):
        return Path(value)
    if field == "top":
        return int(value) if re.fullmatch("0|[1-9][0-9]{0,8}", value) else None
    if field == "max_file_bytes":  # --max-file-mb, min=1 max=65536 in cli.py
        return int(value) * 2**20 if re.fullmatch("[1-9][0-9]{0,4}", value) and int(value) <= 65536 else None
    return value


def parse_instant(text: str, what: str) -> float:
    from chaosctl.scenario.units import parse_instant as instant

    return instant(text, what)  # finite, 1970..9999 (NaN or 1e400 was a traceback or a hang)


def parse_window(text: str, what: str) -> tuple[float, float]:
    from chaosctl.scenario.units import parse_time_window

    return parse_time_window(text, what)  # at most 31 days: a window of 1e21 s sliced forever


def _read_bytes(path: Path, max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes (a UTF-8 BOM dropped) checked to be UTF-8, and its printable name."""
    name = clean_name(str(path))  # the name is echoed to a terminal too
    try:
        # Non-blocking open: a named pipe nobody writes to reads as empty instead of hanging the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:  # at most one byte past the cap: /dev/zero cannot hang us
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"{name}: cannot read: {exc.strerror or type(exc).__name__}") from None
    if len(data) > max_bytes:
        raise UsageError(f"{name}: larger than the {_size(max_bytes)} cap for trace files (--max-file-mb raises it)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.isascii():  # ASCII is UTF-8: checked without a decoded copy of the file (utf-8-sig
        # counts an error's byte after the BOM, as here)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"{name}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    return data, name


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Span]:
    """Spans of an OTLP JSON file; UsageError (exit 2) naming the file for anything wrong with it."""
    data, name = _read_bytes(path, max_bytes)
    try:
        return parse_otlp_text(data.decode("utf-8"), name)
    except TraceFormatError as exc:
        raise UsageError(str(exc)) from None


def read_table_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> "SpanTable":
    """`read_file` as a SpanTable (the columns the aggregate is computed from): same checks, same errors."""
    from chaosctl.observe.span_table import read_table_owned

    box: list[bytes | str] = [b""]
    box[0], name = _read_bytes(path, max_bytes)  # only the box holds the bytes: freed once parsed
    try:
        return read_table_owned(box, name)
    except TraceFormatError as exc:
        raise UsageError(str(exc)) from None


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n} bytes"


def _fetch(opts: BottleneckOptions, window: tuple[float, float]) -> list[Span]:
    from chaosctl.observe.jaeger import Jaeger

    if not opts.service:
        raise UsageError("--jaeger needs --service (the service whose traces to read)")
    client = Jaeger(opts.jaeger or "")
    try:
        return list(client.fetch(opts.service, *window).spans)
    finally:
        client.close()


def _windows(opts: BottleneckOptions) -> tuple[tuple[float, float], tuple[float, float] | None]:
    from chaosctl.scenario.units import MAX_WINDOW_S, parse_flag_duration

    if opts.window and opts.since:
        raise UsageError("give either --since or --window, not both")
    if opts.window:
        current = parse_window(opts.window, "--window")
    else:
        now = time.time()
        current = (now - parse_flag_duration(opts.since or "15m", "--since", MAX_WINDOW_S), now)
    base = parse_window(opts.baseline, "--baseline") if opts.baseline else None
    return current, base


def load_spans(opts: BottleneckOptions) -> tuple[list[Span], list[Span] | None]:
    if opts.file and opts.jaeger:
        raise UsageError("give either --file or --jaeger, not both")
    if opts.file:
        if opts.baseline:
            raise UsageError("--baseline is a time window for --jaeger; with --file use --baseline-file")
        cap = opts.max_file_bytes
        return read_file(opts.file, cap), (read_file(opts.baseline_file, cap) if opts.baseline_file else None)
    if not opts.jaeger:
        raise UsageError("give --file F (OTLP JSON traces) or --jaeger URL --service S")
    current, base = _windows(opts)
    return _fetch(opts, current), (_fetch(opts, base) if base else None)


def _analyses(spans: list[Span], root_glob: str | None) -> list[TraceAnalysis]:
    """Per-root analyses; with a glob, the matching synchronous roots and what was detached from them."""
    out = analyze(spans)
    if root_glob:
        kept = {(t.trace_id, t.root.span_id) for t in out if t.synchronous and fnmatchcase(t.root.operation, root_glob)}
        out = [t for t in out if (t.trace_id, t.root.span_id if t.synchronous else t.origin) in kept]
    return out


def trace_json(t: TraceAnalysis) -> dict:
    base = t.root.start_us
    return {
        "trace_id": t.trace_id,
        "root": {"service": t.root.service, "operation": t.root.operation, "span_id": t.root.span_id},
        "kind": t.kind,
        "duration_us": t.duration_us,
        "orphans": t.orphans,
        "skew_adjusted": t.skew_adjusted,
        "critical_path": [
            {"service": s.service, "operation": s.operation, "span_id": s.span_id, "start_us": s.start_us,
             "end_us": s.end_us, "offset_us": s.start_us - base, "duration_us": s.duration_us}
            for s in t.path
        ],
    }


def to_json(agg: Aggregate, rows, found: tuple[str, ...], traces: list[TraceAnalysis] | None) -> dict:
    out = {
        "traces": agg.traces, "spans": agg.spans, "orphans": agg.orphans, "skew_adjusted": agg.skew_adjusted,
        "asynchronous": agg.asynchronous, "dropped": agg.dropped,
        "operations": [asdict(r) for r in rows], "findings": list(found),
    }
    if traces is not None:
        out["per_trace"] = [trace_json(t) for t in traces]
    return out


def run_bottlenecks(opts: BottleneckOptions) -> dict:
    if opts.file and not opts.jaeger and not opts.per_trace:
        agg, base = _file_aggregates(opts)  # the columns, not a TraceAnalysis per root: the fast path
        traces = None
    elif opts.jaeger and not opts.file and not opts.per_trace:
        agg, base = _jaeger_aggregates(opts)  # Jaeger's answers streamed into aggregates
        traces = None
    else:
        spans, base_spans = load_spans(opts)
        traces = _analyses(spans, opts.root_operation)
        agg = aggregate(traces)
        base = aggregate(_analyses(base_spans, opts.root_operation)) if base_spans is not None else None
    rows, found = agg.rows, ()
    if base is not None:
        rows = diff(agg.rows, base.rows)
        found = findings("against the baseline,", agg.rows, base.rows)
    result = to_json(agg, rows, found, traces if opts.per_trace else None)
    if opts.as_json:
        print(json.dumps(result, indent=2))
    else:
        _print(agg, rows, found, traces if opts.per_trace else None, opts.top)
    return result


def _jaeger_aggregates(opts: BottleneckOptions) -> tuple[Aggregate, Aggregate | None]:
    """The aggregates of the window and the baseline, each answer dropped once added: memory
    stays at one answer (and 16 bytes per span for exact percentiles) whatever the window."""
    from chaosctl.observe.jaeger import Jaeger
    from chaosctl.verdict.table_analysis import Aggregator

    if not opts.service:
        raise UsageError("--jaeger needs --service (the service whose traces to read)")
    current, base = _windows(opts)
    client = Jaeger(opts.jaeger or "")
    try:
        out = []
        for window in (current, base):
            if window is None:
                out.append(None)
                continue
            agg = Aggregator(opts.root_operation)
            client.stream(opts.service, *window, agg.add)
            out.append(agg.result())
    finally:
        client.close()
    return out[0], out[1]


def _file_aggregates(opts: BottleneckOptions) -> tuple[Aggregate, Aggregate | None]:
    """`aggregate(_analyses(read_file(...)))` of the file and the baseline file, from SpanTables."""
    if opts.baseline:
        raise UsageError("--baseline is a time window for --jaeger; with --file use --baseline-file")
    assert opts.file is not None
    table = read_table_file(opts.file, opts.max_file_bytes)  # before numpy's import: the peak stays the parse's
    from chaosctl.verdict.table_analysis import aggregate_table

    agg = aggregate_table(table, opts.root_operation)
    del table
    if not opts.baseline_file:
        return agg, None
    return agg, aggregate_table(read_table_file(opts.baseline_file, opts.max_file_bytes), opts.root_operation)


def _print(agg: Aggregate, rows, found, traces, top: int) -> None:
    from chaosctl.console import default_console
    from chaosctl.report.console import bottleneck_table

    console = default_console()
    console.print(bottleneck_table(f"Bottlenecks over {agg.traces} traces ({agg.spans} spans)", rows, top=top))
    console.print(f"orphan spans (parent missing, analysed as their own roots): {agg.orphans}; "
                  f"clock-skew adjusted: {agg.skew_adjusted}; off the synchronous path: {agg.asynchronous} asynchronous, "
                  f"{agg.dropped} dropped (started after their parent ended)", markup=False, highlight=False)
    for line in found:
        console.print(f"• {line}", markup=False, highlight=False)
    for t in traces or ():
        path = " → ".join(f"{s.service}:{s.operation} {s.duration_us}µs" for s in t.path)
        kind = "" if t.kind == "root" else f" ({t.kind})"
        console.print(f"{t.trace_id}{kind} {t.duration_us}µs: {path}", markup=False, highlight=False)
