"""Spans as a table of columns, grouped by trace: the layout the bottleneck analysis reads fast.

`chaosctl bottlenecks --file` on 120,000 spans spent its time building a `Span` object and a dict
tree per span and then walking them; the aggregate needs none of that. A `SpanTable` holds one
machine-word column per field (`array`), names and clocks interned to small integers, and the
rows sorted by trace (stably: within a trace the input order is kept, so "the first of duplicate
span ids wins" holds as in `critical_path.analyze`). Span ids are the 64-bit integers their 16 hex
digits spell (0 = no parent, as the parser reads an all-zero parent id).

`read_table(data, source)` decodes OTLP JSON with msgspec into a few typed fields per span (the
rest of a span is skipped, never built), one span at a time so memory stays near the input's
size. It accepts only what it reads exactly as `spans.parse_otlp_text` does; anything else
(several documents, an error to locate, base64 ids, integers past 64 bits, deep nesting, ...)
goes to `parse_otlp_text`, whose records or error message are then the answer.
"""

from __future__ import annotations

import os
import re
import sys
from array import array
from itertools import compress, repeat
from operator import attrgetter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from chaosctl.observe import spans as _ref
from chaosctl.observe.spans import Span, clean_name

KINDS = ("", "internal", "server", "client", "producer", "consumer")  # code = index
KIND_CODE = {name: i for i, name in enumerate(KINDS)}
ERROR, FOLLOWS = 1, 2  # flag bits; the kind code is stored above them (flags >> 2)
CODES = "QQQqqIIB"  # array type codes of the columns: trace, span id, parent id, start, end, name, clock, flags
_NANO_CODES = "QQQQQIIB"  # the parser's: start and end in nanoseconds (0 .. 2^64-1)
_MAX_NESTING = 60  # brackets in one span's attributes: at most this many cannot nest past MAX_JSON_DEPTH


@dataclass(frozen=True, slots=True)
class SpanTable:
    trace_ids: list[str]  # one per trace, in order of first appearance
    bounds: array  # trace t holds rows bounds[t] .. bounds[t+1]-1
    span_id: array  # 'Q'
    parent_id: array  # 'Q', 0 = none
    start_us: array  # 'q'
    end_us: array  # 'q' (never before start_us)
    name: array  # 'I' index into names
    clock: array  # 'I' index into clocks: the host, or the service when the resource names none
    flags: array  # 'B': ERROR | FOLLOWS | kind code << 2
    names: list[tuple[str, str]]  # (service, operation)
    clocks: list[str]

    def __len__(self) -> int:
        return len(self.span_id)

    def spans(self, t: int) -> list[Span]:
        """Trace `t` as `Span` records (without attributes or host: the analysis needs neither
        beyond the clock, kept in `host`), for the reference analysis of a rare trace."""
        out = []
        for i in range(self.bounds[t], self.bounds[t + 1]):
            service, operation = self.names[self.name[i]]
            f, p = self.flags[i], self.parent_id[i]
            out.append(Span(self.trace_ids[t], f"{self.span_id[i]:016x}", f"{p:016x}" if p else None, service, operation,
                            self.start_us[i], self.end_us[i], bool(f & ERROR), (), KINDS[f >> 2], bool(f & FOLLOWS),
                            self.clocks[self.clock[i]]))
        return out


class _Builder:
    """Rows appended in input order, then sorted by trace into a SpanTable."""

    def __init__(self, nanos: bool = False) -> None:
        # nanos: start/end columns hold OTLP nanoseconds ('Q'), made µs by numpy in table(): a
        # floor division per value in Python cost a third of the parse
        self.nanos = nanos
        self.trace_of: dict[str, int] = {}
        self.trace_ids: list[str] = []
        self.cols = [array(code) for code in (_NANO_CODES if nanos else CODES)]  # input order; table() sorts them
        self.name_of: dict[tuple[str, str], int] = {}
        self.clock_of: dict[str, int] = {}
        self.op_of: dict[tuple[str, str], int] = {}  # (service, name as sent) -> index in name_of

    def trace(self, tid: str) -> int:
        t = self.trace_of.get(tid)
        if t is None:
            t = self.trace_of[tid] = len(self.trace_ids)
            self.trace_ids.append(tid)
        return t

    def intern(self, table: dict, key: Any) -> int:
        i = table.get(key)
        if i is None:
            i = table[key] = len(table)
        return i

    def add(self, s: Span, number: dict[str, int] | None = None) -> None:
        sid, pid = (int(s.span_id, 16), int(s.parent_id, 16) if s.parent_id else 0) if number is None else (
            number[s.span_id], number[s.parent_id] if s.parent_id is not None else 0)
        start, end = s.start_us, max(s.start_us, s.end_us)
        if self.nanos:  # a parsed span: 0 <= µs < 2^64/1000, so µs * 1000 fits and floors back to µs
            start, end = start * 1000, end * 1000
        row = (self.trace(s.trace_id), sid, pid, start, end, self.intern(self.name_of, (s.service, s.operation)),
               self.intern(self.clock_of, s.host or s.service),
               s.error | (s.follows_from << 1) | (KIND_CODE.get(s.kind, 0) << 2))
        for col, v in zip(self.cols, row):
            col.append(v)

    def table(self) -> SpanTable:
        np = _numpy()  # here, not at import: `read_table_owned` parses before numpy takes its memory

        _NP = {"Q": np.uint64, "q": np.int64, "I": np.uint32, "B": np.uint8}
        trace, *rest = self.cols
        order = np.argsort(np.frombuffer(trace, np.uint64), kind="stable")  # stable: input order within a trace
        counts = np.bincount(np.frombuffer(trace, np.uint64).astype(np.intp), minlength=len(self.trace_ids))
        bounds = array("q", np.r_[0, np.cumsum(counts)].astype(np.int64).tobytes())
        del trace
        cols = []
        self.cols = []
        starts = None
        while rest:  # one column at a time: memory stays near one copy
            col = rest.pop(0)
            out = array(CODES[len(cols) + 1])
            if len(col):
                values = np.frombuffer(col, _NP[col.typecode])
                if self.nanos and len(cols) in (2, 3):  # ns -> µs; the end never before the start
                    starts, values = (values, values // 1000) if starts is None else (None, np.maximum(values, starts) // 1000)
                out.frombytes(values[order].astype(out.typecode, copy=False).tobytes())
            cols.append(out)
        return SpanTable(self.trace_ids, bounds, *cols, list(self.name_of), list(self.clock_of))


def _numpy():
    """numpy, loaded with OpenBLAS at one thread when nothing said otherwise: no BLAS routine runs
    here or in the analysis, and starting OpenBLAS's thread pool cost ~0.05 s CPU, a tenth of
    `bottlenecks --file` (benchmarks/critical_path.py). OpenBLAS reads it once, at load: the
    environment is restored right after."""
    unset = "numpy" not in sys.modules and "OPENBLAS_NUM_THREADS" not in os.environ
    if unset:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import numpy
    finally:
        if unset:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
    return numpy


def table_from_spans(spans: Iterable[Span]) -> SpanTable:
    """The table of `Span` records. Ids as the parser writes them (16 hex digits) are their
    integers; any other ids (hand-built records) are numbered in their string order, which keeps
    what the analysis needs of them: equality, and order between ids of one trace."""
    spans = list(spans)
    b = _Builder()
    ids = {s.span_id for s in spans} | {s.parent_id for s in spans if s.parent_id is not None}
    if all(map(_LOWER_HEX16, ids)) and "0" * 16 not in {s.parent_id for s in spans}:
        number = None
    else:
        number = {i: n for n, i in enumerate(sorted(ids), start=1)}
    for s in spans:
        b.add(s, number)
    return b.table()


_NO_PARENT = "0" * 16


class _Fallback(Exception):
    """Not read exactly as the reference parser would: let it decide."""


class _Status(msgspec.Struct, gc=False):
    code: int | str | None = None


_ERROR_CODES = frozenset(_ref.ERROR_STATUS)
_KIND_CODE_OF = {i: i for i in range(1, 6)} | {0: 0, None: 0}  # an int kind outside 1..5 is unspecified


class _RawSpan(msgspec.Struct, gc=False):
    """The common shape of a span, typed so that msgspec checks it in C; any other shape is a
    ValidationError and the reference parser reads the document."""

    traceId: str  # ids are checked a batch at a time (_hex_ids): a regex per field cost more than the parse
    spanId: str
    startTimeUnixNano: str | int
    endTimeUnixNano: str | int
    parentSpanId: str | None = _NO_PARENT  # absent: none, as "0" * 16 is (null and "" are mapped in _columns)
    name: str = ""
    kind: int | str | None = None
    status: _Status = msgspec.field(default_factory=_Status)  # null: not this shape, the reference reads it
    links: msgspec.Raw = msgspec.Raw()  # absent: empty; a Raw field cannot be Optional (null reads as b"null")
    attributes: msgspec.Raw = msgspec.Raw()


class _Scope(msgspec.Struct, gc=False):
    spans: list[msgspec.Raw] | msgspec.UnsetType = msgspec.UNSET


class _Resource(msgspec.Struct, gc=False):
    """The spans stay raw (views of the document) until their resource is read: one resource's
    spans decoded at a time, a batch at a time."""

    resource: Any = None
    scopeSpans: list[_Scope] | msgspec.UnsetType = msgspec.UNSET
    instrumentationLibrarySpans: list[_Scope] | msgspec.UnsetType = msgspec.UNSET


class _Inner(msgspec.Struct, gc=False):
    resourceSpans: list[_Resource]


class _Doc(msgspec.Struct, gc=False):
    result: _Inner | msgspec.UnsetType = msgspec.UNSET
    resourceSpans: list[_Resource] | msgspec.UnsetType = msgspec.UNSET


_DOC = msgspec.json.Decoder(_Doc)
_SPAN = msgspec.json.Decoder(_RawSpan)


def read_table(data: bytes | str, source: str = "<traces>") -> SpanTable:
    """`table_from_spans(parse_otlp_text(text, source))`, fast; raises what parse_otlp_text raises."""
    return read_table_owned([data], source)


def read_table_owned(box: list[bytes | str], source: str = "<traces>") -> SpanTable:
    """`read_table(box.pop())`: handed over in a box the caller keeps no other reference to, the
    document is freed before the rows are sorted (and numpy, the sort, takes its memory then)."""
    data = box.pop()
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        builder = _fast_builder(raw)
    except (_Fallback, msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError, OverflowError, RecursionError):
        # ValueError covers TraceFormatError and a non-hex digit; TypeError an id that is a list
        text = data if isinstance(data, str) else data.decode("utf-8")
        return table_from_spans(_ref.parse_otlp_text(text, source))
    del data, raw
    return builder.table()


def _fast_table(raw: bytes) -> SpanTable:
    return _fast_builder(raw).table()


def _fast_builder(raw: bytes) -> _Builder:
    doc = _DOC.decode(raw)
    if doc.result is not msgspec.UNSET:
        resources = doc.result.resourceSpans
    elif doc.resourceSpans is not msgspec.UNSET:
        resources = doc.resourceSpans
    else:
        raise _Fallback
    del doc
    b = _Builder(nanos=True)
    while resources:  # each resource dropped once read: its spans' Raw views go with it
        rs = resources.pop(0)
        service, host = _resource(rs.resource)
        scopes = rs.scopeSpans if rs.scopeSpans is not msgspec.UNSET else rs.instrumentationLibrarySpans
        del rs
        for scope in scopes if scopes is not msgspec.UNSET else ():
            if scope.spans is msgspec.UNSET:
                continue
            _add_spans(b, scope.spans, service, host)
    return b


def _resource(resource: object) -> tuple[str, str]:
    resource = resource or {}
    attrs = dict(_ref._attributes(resource.get("attributes") if isinstance(resource, dict) else None, "resource"))
    service = clean_name(attrs.get("service.name", "unknown"))
    host = next((attrs[k] for k in _ref.HOST_KEYS if attrs.get(k)), "")
    return service, host


_BATCH = 4096  # spans decoded at a time: their structs are dropped once in columns


def _add_spans(b: _Builder, raws: list[msgspec.Raw], service: str, host: str) -> None:
    """A scope's spans, a batch at a time, field by field (map/attrgetter run in C: a Python loop
    per span cost more than the decoding). Ids are checked a batch at a time (`_hex_ids`)."""
    if not raws:
        return  # nothing interned for an empty scope (the reference's table has no trace of it)
    clock = b.intern(b.clock_of, host or service)
    for at in range(0, len(raws), _BATCH):
        batch = list(map(_SPAN.decode, raws[at:at + _BATCH]))
        if any(map(len, map(_LINKS, batch))):  # links (follows-from): the reference reads those spans
            run: list[_RawSpan] = []
            for raw, s in zip(raws[at:at + _BATCH], batch):
                if len(s.links) == 0 or bytes(s.links) == b"null":
                    run.append(s)
                    continue
                _plain_columns(b, run, service, clock)  # the spans before it first: rows keep the input order
                run = []
                _reference_span(b, raw, service, host)
            batch = run
        _plain_columns(b, batch, service, clock)


def _plain_columns(b: _Builder, batch: list[_RawSpan], service: str, clock: int) -> None:
    attrs = list(map(_ATTRS, batch))
    if any(map(_not_plain, compress(attrs, map(len, attrs)))):  # a Python step only for a span with attributes
        raise _Fallback
    if batch:
        _columns(b, batch, service, clock)


def _columns(b: _Builder, batch: list[_RawSpan], service: str, clock: int) -> None:
    tids, sids, pids = list(map(_TRACE, batch)), list(map(_SPAN_ID, batch)), list(map(_PARENT, batch))
    new = [tid for tid in dict.fromkeys(tids) if tid not in b.trace_of]
    _hex_ids(new, 32)
    for tid in new:
        b.trace_of[tid] = b.trace(tid.lower())  # the lowercase id is interned too: one trace either way
    names = list(map(_NAME, batch))
    ops = {name: b.op_of.get((service, name)) for name in dict.fromkeys(names)}
    for name, op in ops.items():
        if op is None:
            ops[name] = b.op_of[(service, name)] = b.intern(b.name_of, (service, clean_name(name)))
    kinds = list(map(_KIND_CODE_OF.get, map(_KIND, batch)))
    if None in kinds:
        kinds = [_kind(k) for k in map(_KIND, batch)]
    start, end = array("Q", map(int, map(_START, batch))), array("Q", map(int, map(_END, batch)))  # OverflowError: < 0 or >= 2^64
    columns = [
        array("Q", map(b.trace_of.__getitem__, tids)), _hex_ids(sids, 16), _hex_ids(_no_parent_as_zeros(pids), 16),
        start, end, array("I", map(ops.__getitem__, names)), array("I", repeat(clock, len(batch))),
        _flags(kinds, bytes(map(_ERROR_CODES.__contains__, map(_CODE, map(_STATUS, batch))))),
    ]
    for col, values in zip(b.cols, columns):
        col.extend(values)


_SHIFTED = bytes((k << 2) & 0xFF for k in range(256))  # kind code -> its place in the flags byte


def _flags(kinds: list[int], errors: bytes) -> array:
    """ERROR | kind << 2 per span, by bytes.translate and one big-integer OR (a Python call per span cost twice as much)."""
    flags = bytes(kinds).translate(_SHIFTED)
    if any(errors):
        flags = (int.from_bytes(flags, "little") | int.from_bytes(errors, "little")).to_bytes(len(flags), "little")
    return array("B", flags)


def _no_parent_as_zeros(pids: list[str | None]) -> list[str]:
    """null or "" (no parent, as the reference reads them) as the all-zero id; rare, so looked for first (in C)."""
    return [p or _NO_PARENT for p in pids] if None in pids or "" in pids else pids  # type: ignore[return-value]


def _hex_ids(ids: list[str], digits: int) -> array:
    """Ids of exactly `digits` hex digits as 64-bit integers (a trace id: checked only); anything
    else raises _Fallback, a non-hex digit ValueError (bytes.fromhex, in C)."""
    out = array("Q")
    if not ids:
        return out
    raw = bytes.fromhex("".join(ids))
    if len(raw) != len(ids) * digits // 2 or set(map(len, ids)) != {digits}:
        raise _Fallback  # whitespace (fromhex skips it) or another length
    if digits == 16:
        out.frombytes(raw)
        out.byteswap()  # big-endian digits -> native (little-endian) integers
    return out


_TRACE, _SPAN_ID, _PARENT, _NAME = (attrgetter(f) for f in ("traceId", "spanId", "parentSpanId", "name"))
_START, _END, _STATUS, _KIND = (attrgetter(f) for f in ("startTimeUnixNano", "endTimeUnixNano", "status", "kind"))
_LINKS, _ATTRS, _CODE = attrgetter("links"), attrgetter("attributes"), attrgetter("code")


def _kind(value: object) -> int:
    if type(value) is int:
        return value if 1 <= value <= 5 else 0
    return KIND_CODE[_ref._kind(value)]


_LOWER_HEX16 = re.compile("[0-9a-f]{16}").fullmatch  # as the parser writes ids: their integers sort alike


def _not_plain(attrs: msgspec.Raw) -> bool:
    """Not a list, or brackets enough to nest past MAX_JSON_DEPTH: the reference decides."""
    if not len(attrs):
        return False
    view = memoryview(attrs)
    if view[0] == 0x6E:  # null
        return False
    return view[0] != 0x5B or (len(view) > _MAX_NESTING and view.tobytes().count(b"[") + view.tobytes().count(b"{") > _MAX_NESTING)


def _reference_span(b: _Builder, raw: msgspec.Raw, service: str, host: str) -> None:
    """A span with links (follows-from) or an odd parent: read by the reference parser itself."""
    b.add(_ref._parse_span(msgspec.json.decode(raw), service, host, "span"))


