"""Span records and the OTLP JSON parser shared by `observe.jaeger` and `chaosctl bottlenecks --file`.

Jaeger v2's `/api/v3/traces` answers `{"result": {"resourceSpans": [...]}}`, possibly as several
JSON documents one after the other (streamed chunks); files saved from OTLP exporters hold bare
`{"resourceSpans": [...]}` documents. Both are read here into flat `Span` records with integer
microseconds, so that the analysis is exact to the microsecond and free of float rounding.

Besides times and ids, a span keeps what the critical path needs to tell synchronous from
asynchronous work: its kind (a CONSUMER under a PRODUCER is asynchronous) and whether it merely
*follows from* its parent. Jaeger writes a FOLLOWS_FROM reference as an OTLP link carrying
`opentracing.ref_type = follows_from` (and no parentSpanId when it was the only reference), so a
link to the parent, or a same-trace follows-from link on a span without parent, marks it.
Names (service, operation) are cleaned of control characters here, once, before anything can
print them: an escape sequence in a span name must not reach a terminal or a report.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from chaosctl.errors import InputInvalid

ERROR_STATUS = (2, "STATUS_CODE_ERROR")
SPAN_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
HOST_KEYS = ("host.id", "host.ip", "host.name")  # Jaeger's clock-skew adjuster's host identity, in its order
MAX_JSON_DEPTH = 64  # an OTLP document nests about 10 levels; attribute values rarely more than 3
MAX_NANOS = 2**64  # OTLP times are fixed64 nanoseconds
# ANSI/VT escape sequences (CSI, OSC, other ESC sequences), then single C0/C1 controls, DEL,
# bidirectional overrides (they reorder what a terminal shows) and lone surrogates (unprintable).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_JSON_TOKENS = re.compile(r'[\[\]{}]|"[^"\\]*(?:\\.[^"\\]*)*"')
_HEX = {n: re.compile(f"[0-9a-fA-F]{{{n}}}").fullmatch for n in (16, 32)}
_FLAT = bytes.maketrans(b"123456789-\t\r\n", b"0000000000   ")  # digits and signs as 0, blanks as space
_LONG_RUN = b"0" * 19


class TraceFormatError(InputInvalid, ValueError):
    """A trace document is malformed; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None  # None for a root span
    service: str
    operation: str
    start_us: int
    end_us: int
    error: bool = False
    attributes: tuple[tuple[str, str], ...] = ()
    kind: str = ""  # internal | server | client | producer | consumer | "" (unspecified)
    follows_from: bool = False  # the parent does not wait for this span (FOLLOWS_FROM / a link to it)
    host: str = ""  # host.id, host.ip or host.name of the resource: spans of one host share a clock

    @property
    def duration_us(self) -> int:
        return max(0, self.end_us - self.start_us)

    def attribute(self, key: str) -> str | None:
        for k, v in self.attributes:
            if k == key:
                return v
        return None


def clean_name(text: str) -> str:
    """`text` without escape sequences and control characters (kept printable and one line)."""
    if text.isprintable():  # every character the two patterns remove is unprintable (Cc, Cf, Cs)
        return text
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{col}"


def _too_deep_at(text: str, pos: int) -> int:
    """Where the nesting first exceeds MAX_JSON_DEPTH (only called once the decoder gave up)."""
    depth = 0
    for m in _JSON_TOKENS.finditer(text, pos):
        c = m.group()[0]
        if c in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return m.start()
        elif c in "]}":
            depth -= 1
    return pos


def iter_documents(text: str, source: str) -> Iterator[tuple[int, object]]:
    """Yield (offset, document) for each JSON document in `text` (concatenated or one per line)."""
    decoder = json.JSONDecoder()
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n:
            return
        try:
            doc, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise TraceFormatError(f"{source}:{_line_col(text, exc.pos)}: invalid JSON: {exc.msg}") from None
        except RecursionError:  # the C decoder recurses per level: refuse, never crash
            where = _line_col(text, _too_deep_at(text, pos))
            raise TraceFormatError(f"{source}:{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
            raise TraceFormatError(f"{source}:{_line_col(text, pos)}: invalid JSON document: {exc}") from None
        yield pos, doc
        pos = end


def _one_document(text: str) -> tuple[int, object] | None:
    """(offset, document) when `text` is exactly one JSON document orjson reads as the json module
    would; None otherwise (several documents, an error to locate, NaN, huge integers, ...)."""
    if _long_integer(text):
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return len(text) - len(text.lstrip(" \t\r\n")), doc


def _long_integer(text: str) -> bool:
    """Whether `text` may hold an integer literal of 19 digits or more: orjson reads one beyond 64
    bits as a float where the json module keeps it exact. A number follows `:`, `,`, `[`, a blank or
    the start; a run of digits after a quote is inside a string (OTLP's nanosecond times are
    strings). Conservative: a string that merely looks like a number sends the text to the json
    module too. Byte-level (translate, then substring search): a regex scan costs as much as the parse."""
    flat = text.encode("utf-8", "surrogatepass").translate(_FLAT)
    return flat.lstrip(b" ").startswith(_LONG_RUN) or any(c + _LONG_RUN in flat for c in (b":", b",", b"[", b" "))


def parse_otlp_text(text: str, source: str = "<traces>") -> list[Span]:
    """Parse one or several OTLP JSON documents; raise TraceFormatError naming file:line:col."""
    one = _one_document(text)  # the common case (Jaeger's answer, a saved file), parsed fast
    if one is not None:
        return parse_otlp_document(one[1], f"{source}:{_line_col(text, one[0])}")
    return parse_documents(text, source)


def parse_documents(text: str, source: str = "<traces>") -> list[Span]:
    """`parse_otlp_text` read by the json module, document after document: the reference the
    orjson path agrees with, and the path that locates errors (file:line:col)."""
    spans: list[Span] = []
    found = False
    for offset, doc in iter_documents(text, source):
        where = f"{source}:{_line_col(text, offset)}"
        found = True
        spans.extend(parse_otlp_document(doc, where))
    if not found:
        raise TraceFormatError(f"{source}: no JSON document found (empty file?)")
    return spans


def parse_otlp_document(doc: object, where: str = "<document>") -> list[Span]:
    """One document: `{"result": {"resourceSpans": [...]}}` or `{"resourceSpans": [...]}`."""
    if not isinstance(doc, dict):
        raise TraceFormatError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    if "result" in doc:
        doc = doc["result"]
        where += " result"
        if not isinstance(doc, dict):
            raise TraceFormatError(f"{where}: expected an object")
    if "error" in doc and "resourceSpans" not in doc:
        detail = clean_name(_json_value(doc["error"], where))[:200]
        raise TraceFormatError(f"{where}: an error document, not traces: {detail}")
    resource_spans = doc.get("resourceSpans")
    if not isinstance(resource_spans, list):
        raise TraceFormatError(f"{where}: missing list 'resourceSpans'")
    out: list[Span] = []
    for i, rs in enumerate(resource_spans):
        out.extend(_parse_resource_spans(rs, f"{where} resourceSpans[{i}]"))
    return out


def _parse_resource_spans(rs: object, where: str) -> list[Span]:
    if not isinstance(rs, dict):
        raise TraceFormatError(f"{where}: expected an object")
    resource = rs.get("resource") or {}
    attrs = dict(_attributes(resource.get("attributes") if isinstance(resource, dict) else None, where))
    service = clean_name(attrs.get("service.name", "unknown"))
    host = next((attrs[k] for k in HOST_KEYS if attrs.get(k)), "")
    scopes = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans", []))
    if not isinstance(scopes, list):
        raise TraceFormatError(f"{where}: 'scopeSpans' must be a list")
    out: list[Span] = []
    for j, scope in enumerate(scopes):
        spans = scope.get("spans", []) if isinstance(scope, dict) else None
        if not isinstance(spans, list):
            raise TraceFormatError(f"{where} scopeSpans[{j}]: 'spans' must be a list")
        for k, raw in enumerate(spans):
            out.append(_parse_span(raw, service, host, f"{where} scopeSpans[{j}] spans[{k}]"))
    return out


def _parse_span(raw: object, service: str, host: str, where: str) -> Span:
    if not isinstance(raw, dict):
        raise TraceFormatError(f"{where}: expected an object")
    trace_id = _id(raw.get("traceId"), 16, where, "traceId")
    span_id = _id(raw.get("spanId"), 8, where, "spanId")
    parent = raw.get("parentSpanId") or None
    parent_id = _id(parent, 8, where, "parentSpanId") if parent else None
    parent_id = parent_id if parent_id and parent_id.strip("0") else None
    parent_id, follows = _reference(parent_id, _links(raw.get("links"), trace_id, where))
    start_ns = _nanos(raw.get("startTimeUnixNano"), where, "startTimeUnixNano")
    end_ns = _nanos(raw.get("endTimeUnixNano"), where, "endTimeUnixNano")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise TraceFormatError(f"{where}: 'name' must be a string")
    status = raw.get("status") or {}
    code = status.get("code") if isinstance(status, dict) else None
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        service=service,
        operation=clean_name(name),
        start_us=start_ns // 1000,
        end_us=max(start_ns, end_ns) // 1000,
        error=isinstance(code, (int, str)) and code in ERROR_STATUS,
        attributes=_attributes(raw.get("attributes"), where),
        kind=_kind(raw.get("kind")),
        follows_from=follows,
        host=host,
    )


def _kind(value: object) -> str:
    """OTLP JSON writes the enum as a number (2) or, from some exporters, a name (SPAN_KIND_SERVER)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return SPAN_KINDS.get(value, "")
    if isinstance(value, str) and value.upper().startswith("SPAN_KIND_"):
        name = value[len("SPAN_KIND_"):].lower()
        return name if name in SPAN_KINDS.values() else ""
    return ""


def _links(raw: object, trace_id: str, where: str) -> list[tuple[str, str | None]]:
    """(span id, opentracing.ref_type or None) of each link into the same trace."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TraceFormatError(f"{where}: 'links' must be a list")
    out = []
    for i, link in enumerate(raw):
        at = f"{where} links[{i}]"
        if not isinstance(link, dict):
            raise TraceFormatError(f"{at}: expected an object")
        if _id(link.get("traceId"), 16, at, "traceId") == trace_id:
            ref = dict(_attributes(link.get("attributes"), at)).get("opentracing.ref_type")
            out.append((_id(link.get("spanId"), 8, at, "spanId"), ref))
    return out


def _reference(parent_id: str | None, links: list[tuple[str, str | None]]) -> tuple[str | None, bool]:
    """The parent and whether the span only follows from it (asynchronous)."""
    if parent_id is not None:
        return parent_id, any(sid == parent_id and ref != "child_of" for sid, ref in links)
    for sid, ref in links:
        if ref in (None, "follows_from"):
            return sid, True
    return None, False


def _id(value: object, nbytes: int, where: str, field: str) -> str:
    """OTLP JSON ids are hex; older protobuf-JSON gateways emit base64. Normalise to lowercase hex."""
    if not isinstance(value, str) or not value:
        raise TraceFormatError(f"{where}: missing or non-string '{field}'")
    if _HEX[2 * nbytes](value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != nbytes:
        shown = clean_name(repr(value[:40]))
        raise TraceFormatError(f"{where}: '{field}' is neither {2 * nbytes} hex digits nor base64 of {nbytes} bytes: {shown}")
    return raw.hex()


def _nanos(value: object, where: str, field: str) -> int:
    if isinstance(value, bool) or value is None:
        raise TraceFormatError(f"{where}: missing '{field}'")
    if isinstance(value, float) and not value.is_integer():
        raise TraceFormatError(f"{where}: '{field}' is not an integer: {_shown(value)}")
    try:
        nanos = int(value)  # OTLP JSON writes 64-bit integers as strings
    except (TypeError, ValueError, OverflowError):
        raise TraceFormatError(f"{where}: '{field}' is not an integer: {_shown(value)}") from None
    if not 0 <= nanos < MAX_NANOS:
        raise TraceFormatError(f"{where}: '{field}' is outside 0..2^64 ns: {str(nanos)[:30]}")
    return nanos


def _shown(value: object) -> str:
    """A bad value for a message: repr() of a deeply nested list would recurse, so a container is named by its type."""
    return type(value).__name__ if isinstance(value, (dict, list)) else clean_name(repr(value)[:40])


def _attributes(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TraceFormatError(f"{where}: 'attributes' must be a list")
    out = []
    for item in raw:
        if isinstance(item, dict):
            key = item.get("key")
            if isinstance(key, str):
                out.append((key, _any_value(item.get("value"), where)))
    return tuple(out)


def _any_value(value: object, where: str) -> str:
    if not isinstance(value, dict) or not value:
        return ""
    for kind, inner in value.items():  # the first entry (`next(iter(...))` costs two calls)
        break
    if type(inner) is str and kind != "arrayValue" and kind != "kvlistValue":
        return inner  # the common case: str(inner) is inner
    if kind in ("arrayValue", "kvlistValue") or isinstance(inner, (dict, list)):
        return _json_value(inner, where)
    return str(inner)


def _json_value(value: object, where: str) -> str:
    """JSON text of a parsed value, refused beyond MAX_JSON_DEPTH (checked without recursing)."""
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if depth > MAX_JSON_DEPTH:
            raise TraceFormatError(f"{where}: a value nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            todo.extend((v, depth + 1) for v in item)
    return json.dumps(value, sort_keys=True)
