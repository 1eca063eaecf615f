"""Span records and the OTLP JSON parser shared by `observe.jaeger` and `chaosctl bottlenecks --file`.

Jaeger v2's `/api/v3/traces` answers `{"result": {"resourceSpans": [...]}}`, possibly as several
JSON documents one after the other (streamed chunks); files saved from OTLP exporters hold bare
`{"resourceSpans": [...]}` documents. Both are read here into flat `Span` records with integer
microseconds, so that the analysis is exact to the microsecond and free of float rounding.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass

ERROR_STATUS = (2, "STATUS_CODE_ERROR")


class TraceFormatError(ValueError):
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

    @property
    def duration_us(self) -> int:
        return max(0, self.end_us - self.start_us)

    def attribute(self, key: str) -> str | None:
        for k, v in self.attributes:
            if k == key:
                return v
        return None


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{col}"


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
        yield pos, doc
        pos = end


def parse_otlp_text(text: str, source: str = "<traces>") -> list[Span]:
    """Parse one or several OTLP JSON documents; raise TraceFormatError naming file:line:col."""
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
        raise TraceFormatError(f"{where}: an error document, not traces: {json.dumps(doc['error'])[:200]}")
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
    attrs = _attributes(resource.get("attributes") if isinstance(resource, dict) else None, where)
    service = dict(attrs).get("service.name", "unknown")
    scopes = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans", []))
    if not isinstance(scopes, list):
        raise TraceFormatError(f"{where}: 'scopeSpans' must be a list")
    out: list[Span] = []
    for j, scope in enumerate(scopes):
        spans = scope.get("spans", []) if isinstance(scope, dict) else None
        if not isinstance(spans, list):
            raise TraceFormatError(f"{where} scopeSpans[{j}]: 'spans' must be a list")
        for k, raw in enumerate(spans):
            out.append(_parse_span(raw, service, f"{where} scopeSpans[{j}] spans[{k}]"))
    return out


def _parse_span(raw: object, service: str, where: str) -> Span:
    if not isinstance(raw, dict):
        raise TraceFormatError(f"{where}: expected an object")
    trace_id = _id(raw.get("traceId"), 16, where, "traceId")
    span_id = _id(raw.get("spanId"), 8, where, "spanId")
    parent = raw.get("parentSpanId") or None
    parent_id = _id(parent, 8, where, "parentSpanId") if parent else None
    start_ns = _nanos(raw.get("startTimeUnixNano"), where, "startTimeUnixNano")
    end_ns = _nanos(raw.get("endTimeUnixNano"), where, "endTimeUnixNano")
    status = raw.get("status") or {}
    code = status.get("code") if isinstance(status, dict) else None
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id if parent_id and parent_id.strip("0") else None,
        service=service,
        operation=str(raw.get("name", "")),
        start_us=start_ns // 1000,
        end_us=max(start_ns, end_ns) // 1000,
        error=code in ERROR_STATUS,
        attributes=_attributes(raw.get("attributes"), where),
    )


def _id(value: object, nbytes: int, where: str, field: str) -> str:
    """OTLP JSON ids are hex; older protobuf-JSON gateways emit base64. Normalise to lowercase hex."""
    if not isinstance(value, str) or not value:
        raise TraceFormatError(f"{where}: missing or non-string '{field}'")
    if len(value) == 2 * nbytes:
        try:
            int(value, 16)
            return value.lower()
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != nbytes:
        raise TraceFormatError(f"{where}: '{field}' is neither {2 * nbytes} hex digits nor base64 of {nbytes} bytes: {value!r}")
    return raw.hex()


def _nanos(value: object, where: str, field: str) -> int:
    if isinstance(value, bool) or value is None:
        raise TraceFormatError(f"{where}: missing '{field}'")
    try:
        return int(value)  # OTLP JSON writes 64-bit integers as strings
    except (TypeError, ValueError):
        raise TraceFormatError(f"{where}: '{field}' is not an integer: {value!r}") from None


def _attributes(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TraceFormatError(f"{where}: 'attributes' must be a list")
    out = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out.append((item["key"], _any_value(item.get("value"))))
    return tuple(out)


def _any_value(value: object) -> str:
    if not isinstance(value, dict) or not value:
        return ""
    kind, inner = next(iter(value.items()))
    if kind in ("arrayValue", "kvlistValue"):
        return json.dumps(inner, sort_keys=True)
    return str(inner)
